"""What the rule loops decided and did: take-profit tiers, hedges, the watcher."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from bot.ops.events.base import Event, PositionEvent
from bot.rules.hedge import HedgeClose
from bot.rules.take_profit import TierClose
from db.records import Severity

if TYPE_CHECKING:
    from bot.closing import CloseResult
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


@dataclass(frozen=True, kw_only=True)
class TierFailed(PositionEvent):
    name = "tp_failed"
    alert = "take_profit"
    severity = Severity.ERROR
    decision: TierClose
    error: str

    def message(self) -> str:
        return f"tier {self.decision.tier}: {self.error}"


@dataclass(frozen=True, kw_only=True)
class TierObserved(PositionEvent):
    name = "tp_would_fire"
    alert = "take_profit"
    decision: TierClose

    def message(self) -> str:
        return (f"tier {self.decision.tier}: would close {self.decision.size} of "
                f"{self.position.size}")


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


@dataclass(frozen=True, kw_only=True)
class HedgeFailed(PositionEvent):
    name = "hedge_failed"
    alert = "hedge"
    severity = Severity.ERROR
    decision: HedgeClose
    error: str

    def message(self) -> str:
        return f"closing {self.decision.size} of {self.position.size}: {self.error}"


@dataclass(frozen=True, kw_only=True)
class HedgeObserved(PositionEvent):
    name = "hedge_would_close"
    alert = "hedge"
    decision: HedgeClose

    def message(self) -> str:
        return f"would close {self.decision.size} of {self.position.size}"


@dataclass(frozen=True, kw_only=True)
class RuleSkipped(PositionEvent):
    """A rule left a position alone right before acting: another action holds it
    (`busy`), or it changed since the run read it (`changed`)."""

    rule: str  # "tp" | "hedge"
    why: str  # "busy" | "changed"

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.rule}_skipped_{self.why}"

    def message(self) -> str:
        return ("another action is working on this position" if self.why == "busy" else
                "the position changed since the run read it; decided again next run")


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
