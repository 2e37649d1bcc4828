"""Runs a maintenance as a journaled three-step action: close the old position, open the
new one, close most of it. Each step is one or more market orders (attempts) that must
fill completely before the next step starts; a step that does not stops the action.

The journal is the truth: running an action again (a [Retry], a restart) looks at what
its steps already filled and only sends what is missing, and an attempt whose order was
sent but not seen to its end is looked up by client id instead of being sent again.
Attempt a of step k has seq k*10+a, so every order has a client id of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bot.domain import ZERO, OrderRequest, OrderType, Position, Side, TimeInForce
from bot.execution import Executor, Journal, Outcome, OutcomeTotals, request_of
from bot.rules.maintenance import Kind, final_close_normal, final_close_super
from bot.sizing import with_slippage
from bot.venues.base import PositionNotFound, Venue, VenueError, held_position

log = logging.getLogger(__name__)

CLOSE_OLD, OPEN, CLOSE_NEW = 1, 2, 3
STEPS = (CLOSE_OLD, OPEN, CLOSE_NEW)
MAX_ATTEMPTS = 10
# A price seen this long ago (a position's mark, a fill of this run) still sets a market
# order's worst price: the slippage allowance covers what it may have moved since.
FRESH_PRICE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class MaintenancePlan:
    """What a maintenance action journals: enough to run it, resume it after a restart
    and report it, whoever started it."""

    kind: Kind
    account: str
    symbol: str
    side: Side
    old_size: Decimal  # contracts held when it was planned
    open_size: Decimal  # step 2
    keep_share_pct: Decimal  # normal: share of step 2 kept
    price: Decimal  # the mark it was planned at
    leverage: Decimal
    amount: Decimal | None = None  # super: margin to open, USDT
    target: Decimal | None = None  # super: margin to keep, USDT
    count: int = 0  # maintenances done before this one
    # The position when planned, for the report's before/after line (seed 002).
    old_margin: Decimal | None = None
    old_profit_rate: Decimal | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.account, self.symbol, self.side.value)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "account": self.account, "symbol": self.symbol,
                "side": self.side.value, "old_size": str(self.old_size),
                "open_size": str(self.open_size), "keep_share_pct": str(self.keep_share_pct),
                "price": str(self.price), "leverage": str(self.leverage),
                "amount": _text(self.amount), "target": _text(self.target),
                "count": self.count, "old_margin": _text(self.old_margin),
                "old_profit_rate": _text(self.old_profit_rate)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MaintenancePlan:
        return cls(Kind(data["kind"]), data["account"], data["symbol"], Side(data["side"]),
                   Decimal(data["old_size"]), Decimal(data["open_size"]),
                   Decimal(data["keep_share_pct"]), Decimal(data["price"]),
                   Decimal(data["leverage"]), _decimal(data.get("amount")),
                   _decimal(data.get("target")), int(data.get("count", 0)),
                   _decimal(data.get("old_margin")), _decimal(data.get("old_profit_rate")))


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


@dataclass(slots=True)
class StepReport(OutcomeTotals):
    step: int
    target: Decimal | None = None  # contracts this step must fill in all, once known
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.target is not None and self.filled_size >= self.target

    @property
    def fills(self) -> int:
        return sum(len(o.fills) for o in self.outcomes)

    @property
    def order_ids(self) -> list[str]:
        return [o.order.venue_id for o in self.outcomes if o.order is not None]


@dataclass(slots=True)
class MaintenanceResult:
    steps: dict[int, StepReport]
    failed_step: int | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.failed_step is None and all(self.steps[k].done for k in STEPS)

    @property
    def pnl(self) -> Decimal:
        return sum((r.realized_pnl for r in self.steps.values()), ZERO)

    @property
    def fees(self) -> Decimal:
        return sum((r.fee for r in self.steps.values()), ZERO)

    def snapshot(self) -> MaintenanceResult:
        """The result as it is now, for a progress message shown while the steps go on."""
        return MaintenanceResult({k: StepReport(k, r.target, list(r.outcomes))
                                  for k, r in self.steps.items()},
                                 self.failed_step, self.error)


Progress = Callable[[MaintenanceResult], Awaitable[None]]


class MaintenanceRunner:
    def __init__(self, executor: Executor, journal: Journal, venue: Venue,
                 slippage_pct: Decimal, follow_timeout: float) -> None:
        self.executor = executor
        self.journal = journal
        self.venue = venue
        self.slippage_pct = slippage_pct
        self.follow_timeout = follow_timeout
        self._held: Position | None = None
        self._price: tuple[Decimal, float] | None = None  # (price, loop time seen)

    async def run(self, action_id: int, plan: MaintenancePlan,
                  progress: Progress | None = None, held: Position | None = None
                  ) -> MaintenanceResult:
        """Run (or resume) the action until all three steps filled or one could not.
        `held`: the position as read just before (when the action was journaled), so the
        first step does not read it again."""
        self._held, self._price = held, None
        result = MaintenanceResult({k: StepReport(k) for k in STEPS})
        for step in STEPS:
            report = result.steps[step]
            try:
                await self._step(action_id, plan, report, result)
            except VenueError as exc:
                result.error = str(exc)
            await _tell(progress, result)
            if not report.done:
                result.failed_step = step
                result.error = result.error or "; ".join(report.errors) or "not filled"
                return result
        return result

    async def _step(self, action_id: int, plan: MaintenancePlan, report: StepReport,
                    result: MaintenanceResult) -> None:
        step, symbol, side = report.step, plan.symbol, plan.side
        attempts = await self._attempts(action_id, step)
        for attempt in attempts:
            if attempt.state == "failed":  # refused by the venue: nothing to look up
                # The journal keeps the error as it was shown, venue and code included.
                shown = attempt.error_message or "refused"
                message = shown.removeprefix(f"{self.venue.venue} ").removeprefix(
                    f"{attempt.error_code} ")
                report.outcomes.append(Outcome(
                    attempt.client_id or "", request_of(attempt.params),
                    error=VenueError(message, code=attempt.error_code,
                                     venue=self.venue.venue)))
                continue
            report.outcomes.append(await self._order(
                action_id, attempt.seq, attempt.kind, request_of(attempt.params)))
        if step == CLOSE_OLD:
            # Each attempt closes what is left of the old position; the step is done when
            # one of them closed all it was sent for. Only the journal can say so: once
            # step 2 has begun, the position on the venue is the new one.
            if attempts and report.outcomes[-1].filled_size == Decimal(attempts[-1].params["size"]):
                report.target = report.filled_size
                return
            held = self._held or await held_position(self.venue, symbol, side)
            self._held = None
            if held is not None:
                self._seen(held.mark_price)
            if held is None:
                if report.filled_size:  # closed meanwhile by other means: nothing left to do
                    report.target = report.filled_size
                    return
                raise PositionNotFound(f"no {symbol} {side} position to maintain",
                                       code="no_position", venue=self.venue.venue)
            report.target = report.filled_size + held.size
            missing = held.size
        else:
            report.target = await self._target(plan, step, result)
            missing = report.target - report.filled_size
        if missing > 0 and len(attempts) < MAX_ATTEMPTS:
            report.outcomes.append(await self._send(
                action_id, step * 10 + len(attempts), symbol, side, missing,
                close=step != OPEN))

    async def _target(self, plan: MaintenancePlan, step: int,
                      result: MaintenanceResult) -> Decimal:
        if step == OPEN:
            return plan.open_size
        opened = result.steps[OPEN].filled_size
        inst = await self.venue.instrument(plan.symbol)
        if plan.kind is Kind.NORMAL:
            return final_close_normal(opened=opened, inst=inst,
                                      keep_share_pct=plan.keep_share_pct)
        assert plan.target is not None, "a super maintenance keeps a target margin"
        price = result.steps[OPEN].average_price or plan.price
        return final_close_super(opened=opened, price=price, target=plan.target,
                                 leverage=plan.leverage, inst=inst)

    async def _attempts(self, action_id: int, step: int) -> list[Any]:
        """The journaled attempts of one step (db StepRecords), oldest first."""
        action = await self.journal.action_with_steps(action_id)
        return sorted((s for s in action.steps if s.seq // 10 == step), key=lambda s: s.seq)

    async def _send(self, action_id: int, seq: int, symbol: str, side: Side, size: Decimal,
                    *, close: bool) -> Outcome:
        inst = await self.venue.instrument(symbol)
        order_side = side.close_order_side if close else side.open_order_side
        worst = with_slippage(self._fresh_price() or await self.venue.mark_price(symbol),
                              order_side, self.slippage_pct, inst)
        request = OrderRequest("", symbol, order_side, side, OrderType.MARKET, size, worst,
                               reduce_only=close, time_in_force=TimeInForce.IOC)
        outcome = await self._order(action_id, seq, "close" if close else "open", request)
        if outcome.average_price:  # filled just now: the next step's price
            self._seen(outcome.average_price)
        return outcome

    def _seen(self, price: Decimal) -> None:
        self._price = (price, asyncio.get_running_loop().time())

    def _fresh_price(self) -> Decimal | None:
        """A price seen by this run lately; None: the mark is read. Only prices seen in
        this run count: a resumed action's old fills say nothing of the market now."""
        if self._price is None:
            return None
        price, at = self._price
        fresh = asyncio.get_running_loop().time() - at <= FRESH_PRICE_SECONDS
        return price if fresh else None

    async def _order(self, action_id: int, seq: int, kind: str,
                     request: OrderRequest) -> Outcome:
        outcome = await self.executor.order_step(self.venue, action_id, seq, kind, request,
                                                 follow_timeout=self.follow_timeout)
        if outcome.order is not None and not outcome.settled:
            # What the next step does depends on what this one filled: an order still
            # live (its cancel did not get through) or whose fills could not be read is
            # followed to its end first, however long the venue takes; the position stays
            # held meanwhile, and a stop leaves it to the next start's look-up.
            outcome = await self.executor.see_through(self.venue, action_id, outcome)
        return outcome


async def _tell(progress: Progress | None, result: MaintenanceResult) -> None:
    """Progress is for the user; failing to show it must never stop the steps."""
    if progress is None:
        return
    try:
        await progress(result)
    except Exception:
        log.exception("maintenance_progress_not_shown")
