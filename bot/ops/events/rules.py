"""What the rule loops decided and did: take-profit tiers, hedges, the watcher, error
correction."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bot.domain import Order
from bot.ops.events.base import Event, PositionEvent
from bot.rules.correction import CorrectionPlan
from bot.rules.grid import Direction, Place, Skip, Why
from bot.rules.hedge import HedgeClose
from bot.rules.take_profit import TierClose
from db.records import Severity

if TYPE_CHECKING:
    from bot.closing import CloseResult
    from bot.correction import CorrectionReport
    from bot.ops.refusal import Refusal


@dataclass(frozen=True, kw_only=True)
class TierFired(PositionEvent):
    name = "tp_fired"
    alert = "take_profit"
    decision: TierClose
    result: CloseResult

    def message(self) -> str:
        return (f"tier {self.decision.tier}: closed {self.result.filled_size} of "
                f"{self.decision.size}; " + "; ".join(self.result.errors)).strip("; ")

    def data(self) -> dict[str, Any]:
        return _tier(self.decision) | _closed(self.result)


@dataclass(frozen=True, kw_only=True)
class TierFailed(PositionEvent):
    name = "tp_failed"
    alert = "take_profit"
    severity = Severity.ERROR
    decision: TierClose
    error: str

    def message(self) -> str:
        return f"tier {self.decision.tier}: {self.error}"

    def data(self) -> dict[str, Any]:
        return _tier(self.decision) | {"error": self.error}


@dataclass(frozen=True, kw_only=True)
class TierObserved(PositionEvent):
    name = "tp_would_fire"
    alert = "take_profit"
    decision: TierClose

    def message(self) -> str:
        return (f"tier {self.decision.tier}: would close {self.decision.size} of "
                f"{self.position.size}")

    def data(self) -> dict[str, Any]:
        return _tier(self.decision)


@dataclass(frozen=True, kw_only=True)
class LadderRestarted(PositionEvent):
    name = "tp_ladder_restarted"

    def message(self) -> str:
        return f"{self.position.symbol} {self.position.side}: new entry {self.position.entry_price}"


@dataclass(frozen=True, kw_only=True)
class HedgeClosed(PositionEvent):
    name = "hedge_closed"
    alert = "hedge"
    decision: HedgeClose
    result: CloseResult

    def message(self) -> str:
        return (f"closed {self.result.filled_size} of {self.decision.size} "
                f"({'; '.join(self.result.errors)})")

    def data(self) -> dict[str, Any]:
        return _hedge(self.decision) | _closed(self.result)


@dataclass(frozen=True, kw_only=True)
class HedgeFailed(PositionEvent):
    name = "hedge_failed"
    alert = "hedge"
    severity = Severity.ERROR
    decision: HedgeClose
    error: str

    def message(self) -> str:
        return f"closing {self.decision.size} of {self.position.size}: {self.error}"

    def data(self) -> dict[str, Any]:
        return _hedge(self.decision) | {"error": self.error}


@dataclass(frozen=True, kw_only=True)
class HedgeObserved(PositionEvent):
    name = "hedge_would_close"
    alert = "hedge"
    decision: HedgeClose

    def message(self) -> str:
        return f"would close {self.decision.size} of {self.position.size}"

    def data(self) -> dict[str, Any]:
        return _hedge(self.decision)


@dataclass(frozen=True, kw_only=True)
class RuleSkipped(PositionEvent):
    """A rule left a position alone right before acting: another action holds it
    (`busy`), or it changed since the run read it (`changed`)."""

    rule: str  # "tp" | "hedge" | "correction"
    why: str  # "busy" | "changed"

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.rule}_skipped_{self.why}"

    def message(self) -> str:
        return ("another action is working on this position" if self.why == "busy" else
                "the position changed since the run read it; decided again next run")

    def data(self) -> dict[str, Any]:
        return {"rule": self.rule, "why": self.why}


@dataclass(frozen=True, kw_only=True)
class LadderReset(Event):
    name = "tp_reset"
    key: tuple[str, str, str]  # (account, symbol, side)
    by_user: int

    @property
    def account(self) -> str:
        return self.key[0]

    @property
    def symbol(self) -> str:
        return self.key[1]

    @property
    def side(self) -> str:
        return self.key[2]

    def message(self) -> str:
        return f"ladder reset by user {self.by_user}"


@dataclass(frozen=True, kw_only=True)
class WatcherAlerted(PositionEvent):
    """A position fell to the watcher's loss. `ask` asks with buttons; `auto` runs a
    super maintenance, whose own report follows."""

    name = "watcher_alert"
    alert = "watcher"
    mode: str
    loss_pct: Decimal

    def message(self) -> str:
        return f"profit {self.position.profit_rate:.2f}% <= {self.loss_pct}% ({self.mode})"


@dataclass(frozen=True, kw_only=True)
class WatcherAutoRefused(PositionEvent):
    name = "watcher_auto_refused"
    alert = "watcher"
    severity = Severity.WARNING
    refusal: Refusal

    def message(self) -> str:
        return f"refused: {self.refusal.key} {self.refusal.values}"


@dataclass(frozen=True, kw_only=True)
class CorrectionEvent(PositionEvent):
    """A correction's outcome: what changed, from the venue's own numbers."""

    alert = "correction"
    report: CorrectionReport

    def changes(self) -> str:
        r, after = self.report, self.report.after or self.report.before
        parts = []
        if r.leverage_after is not None:
            parts.append(f"leverage {r.leverage_before} -> {r.leverage_after}")
        if r.close is not None:
            parts.append(f"notional {r.notional(r.before):.2f} -> {r.notional(after):.2f} "
                         f"(closed {r.close.filled_size} of {r.close.size}, "
                         f"fee {r.close.fee})")
        if r.moves:
            parts.append(f"margin {r.moves[0].margin_before} -> {r.moves[-1].margin_after} "
                         f"in {len(r.moves)} steps")
        return "; ".join(parts) or "nothing changed"

    def data(self) -> dict[str, Any]:
        return self.report.summary()


@dataclass(frozen=True, kw_only=True)
class PositionCorrected(CorrectionEvent):
    name = "correction_done"

    def message(self) -> str:
        return self.changes()


@dataclass(frozen=True, kw_only=True)
class CorrectionFailed(CorrectionEvent):
    name = "correction_failed"
    severity = Severity.ERROR
    error: str

    def message(self) -> str:
        return f"{self.error}; {self.changes()}"


@dataclass(frozen=True, kw_only=True)
class CorrectionObserved(PositionEvent):
    """Observe mode: what a correction would do, told once per decision."""

    name = "correction_would_correct"
    alert = "correction"
    plan: CorrectionPlan

    def message(self) -> str:
        plan = self.plan
        parts = []
        if plan.leverage_to is not None:
            parts.append(f"leverage {self.position.leverage} -> {plan.leverage_to}")
        if plan.close_size:
            parts.append(f"close {plan.close_size} (notional {plan.notional_before:.2f} -> "
                         f"{plan.notional_after:.2f})")
        if plan.margin_moves:
            parts.append(f"margin {self.position.margin} -> {plan.margin_after} in "
                         f"{len(plan.margin_moves)} steps")
        return "would: " + "; ".join(parts)


@dataclass(frozen=True, kw_only=True)
class GridEvent(Event):
    alert = "grid"
    grid: str
    account_name: str
    symbol_name: str

    @property
    def account(self) -> str:
        return self.account_name

    @property
    def symbol(self) -> str:
        return self.symbol_name


@dataclass(frozen=True, kw_only=True)
class GridDecided(GridEvent):
    """A grid's decision: an order placed (or, observing, that would be), or why not."""

    decision: Place | Skip
    observed: bool = False
    client_id: str | None = None  # the order placed

    @property
    def name(self) -> str:  # type: ignore[override]
        d = self.decision
        if isinstance(d, Skip):
            return {Why.OUT_OF_RANGE: "grid_hedge_out_of_range",
                    Why.DUPLICATE: "grid_hedge_duplicate", Why.SELL_BLOCKED: "grid_sell_blocked",
                    Why.REJECTED: "grid_order_rejected"}[d.why]
        if d.after is Direction.BUY:
            return "grid_hedge_observed" if self.observed else "grid_hedge_placed"
        return "grid_buy_observed" if self.observed else "grid_buy_placed"

    @property
    def severity(self) -> Severity:  # type: ignore[override]
        blocked = isinstance(self.decision, Skip) and self.decision.why in (
            Why.SELL_BLOCKED, Why.REJECTED)
        return Severity.WARNING if blocked else Severity.INFO

    def message(self) -> str:
        d = self.decision
        where = f"{self.grid}: {d.direction.value} level {d.level + 1}"
        if isinstance(d, Skip):
            return f"{where} not placed ({d.why.value}): {d.detail}"
        return f"{where}: {d.size} at {d.price}" + (" (observe)" if self.observed else "")

    def data(self) -> dict[str, Any]:
        d = self.decision
        data: dict[str, Any] = {"grid": self.grid, "direction": d.direction.value,
                                "level": d.level + 1,
                                "after": d.after.value if d.after else None}
        if isinstance(d, Skip):
            return data | {"why": d.why.value} | d.numbers
        return data | {"size": str(d.size), "price": str(d.price),
                       "observed": self.observed, "client_id": self.client_id}


@dataclass(frozen=True, kw_only=True)
class GridOrderEnded(GridEvent):
    """A grid order the venue says ended: what it filled."""

    direction: Direction
    level: int
    order: Order

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"grid_{self.direction.value}_filled" if self.order.filled_size else \
            f"grid_{self.direction.value}_ended"

    def message(self) -> str:
        o = self.order
        return (f"{self.grid}: {self.direction.value} level {self.level + 1} {o.state.value}, "
                f"filled {o.filled_size} of {o.size}")

    def data(self) -> dict[str, Any]:
        o = self.order
        return {"grid": self.grid, "direction": self.direction.value, "level": self.level + 1,
                "state": o.state.value, "filled": str(o.filled_size), "size": str(o.size),
                "price": str(o.average_price or o.price or ""), "client_id": o.client_id,
                "venue_id": o.venue_id}


@dataclass(frozen=True, kw_only=True)
class LedgerDrift(GridEvent):
    """The grid's ledger and the venue's position disagree: told once per episode."""

    name = "ledger_drift"
    severity = Severity.WARNING
    ledger: Decimal
    venue: Decimal

    def message(self) -> str:
        return f"{self.grid}: the ledger holds {self.ledger}, the venue {self.venue}"

    def data(self) -> dict[str, Any]:
        return {"grid": self.grid, "ledger": str(self.ledger), "venue": str(self.venue)}


@dataclass(frozen=True, kw_only=True)
class LedgerHealed(GridEvent):
    name = "ledger_drift_healed"
    held: Decimal

    def message(self) -> str:
        return f"{self.grid}: the ledger and the venue agree again at {self.held}"

    def data(self) -> dict[str, Any]:
        return {"grid": self.grid, "held": str(self.held)}


def _tier(d: TierClose) -> dict[str, Any]:
    p = d.position
    return {"tier": d.tier, "size": str(d.size), "held": str(p.size),
            "rate": str(p.profit_rate.quantize(Decimal("0.01")))}


def _hedge(d: HedgeClose) -> dict[str, Any]:
    return {"size": str(d.size), "held": str(d.loser.size),
            "share": str(d.share_pct.quantize(Decimal("0.01"))),
            "loser_rate": str(d.loser.profit_rate.quantize(Decimal("0.01"))),
            "winner_side": d.winner.side.value,
            "winner_rate": str(d.winner.profit_rate.quantize(Decimal("0.01")))}


def _closed(result: CloseResult) -> dict[str, Any]:
    return {"closed": str(result.filled_size), "price": str(result.average_price or ""),
            "fee": str(result.fee), "pnl": str(result.realized_pnl)}
