"""Runs a correction of one position as a journaled action (SPEC §6, §8): the leverage
set, the excess closed through the one close procedure, then margin moved out step by
step, each step journaled before it is sent and the venue read back after it.

The journal is the truth, as for a maintenance: running the action again (a restart)
sets the leverage again if it was not seen set (setting it twice is harmless), follows
the close's orders by client id (never a second close), and decides a margin move the
bot stopped around from the margin the venue holds now: it is never sent twice. What
follows is decided from what the venue reads, never from what was planned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.closing import execute_close, plan_close
from bot.config_rules import CloseSettings
from bot.domain import ZERO, Position
from bot.execution import Executor, Journal, Outcome, OutcomeTotals, request_of
from bot.rules.correction import Targets, excess_close, margin_floor, next_margin_move
from bot.sizing import notional
from bot.venues.base import (
    LeverageRejected,
    PositionNotFound,
    Venue,
    VenueError,
    VenueUnavailable,
    held_position,
)

LEVERAGE_SEQ = 1
CLOSE_SEQ = 10  # the close's orders: 10, 11, … (limit batches)
MARGIN_SEQ = 100  # margin moves: 100, 101, …
MAX_MARGIN_MOVES = 100  # in one run; the next run goes on from what the venue holds


@dataclass(frozen=True, slots=True)
class MarginMove:
    amount: Decimal  # USDT out of the position
    margin_before: Decimal
    margin_after: Decimal  # as the venue read back


@dataclass(slots=True)
class ExcessClose(OutcomeTotals):
    size: Decimal  # contracts the close was sent for
    outcomes: list[Outcome] = field(default_factory=list)


@dataclass(slots=True)
class CorrectionReport:
    """What one run of the action changed, from the venue's own numbers."""

    before: Position
    leverage_before: Decimal | None = None  # when it was set: from, and to as read back
    leverage_after: Decimal | None = None
    close: ExcessClose | None = None
    moves: list[MarginMove] = field(default_factory=list)
    after: Position | None = None  # read back at the end
    error: VenueError | None = None  # what stopped it

    @property
    def changed(self) -> bool:
        closed = self.close.filled_size if self.close else ZERO
        return self.leverage_after is not None or closed > 0 or bool(self.moves)

    def notional(self, position: Position) -> Decimal:
        return notional(position.size, position.mark_price, position.instrument)

    def summary(self) -> dict[str, Any]:
        """What the action's journal keeps."""
        after = self.after or self.before
        return {"leverage": [str(self.leverage_before or self.before.leverage),
                             str(after.leverage)],
                "notional": [str(self.notional(self.before)), str(self.notional(after))],
                "closed": str(self.close.filled_size if self.close else ZERO),
                "fee": str(self.close.fee if self.close else ZERO),
                "margin": [str(self.before.margin), str(after.margin)],
                "margin_moves": len(self.moves),
                "error": str(self.error) if self.error else None}


class CorrectionRunner:
    def __init__(self, executor: Executor, journal: Journal, venue: Venue,
                 close_settings: CloseSettings, clock: Callable[[], datetime]) -> None:
        self.executor = executor
        self.journal = journal
        self.venue = venue
        self.settings = close_settings
        self.clock = clock

    async def run(self, action_id: int, position: Position, targets: Targets
                  ) -> CorrectionReport:
        """Run (or resume) the action; a venue error stops it and is in the report."""
        report = CorrectionReport(position)
        try:
            position = await self._leverage(action_id, position, targets, report)
            position = await self._close(action_id, position, targets, report)
            await self._margin(action_id, position, targets, report)
        except VenueError as exc:
            report.error = exc
        try:
            report.after = await self._read(position)
        except VenueError as exc:
            report.error = report.error or exc
        return report

    async def stand_still(self, action_id: int, position: Position) -> None:
        """Decide the leverage and margin steps the bot stopped around from what the venue
        holds now, sending nothing (the bot is paused); the close's orders are looked up
        by their client ids as every other order is at start."""
        report = CorrectionReport(position)
        for st in await self._steps(action_id, LEVERAGE_SEQ, None):
            if st.state not in ("intended", "sent") or st.client_id is not None:
                continue
            if st.kind == "margin_out":
                await self._decide(st, position.margin, report)
            elif position.leverage == Decimal(st.params["to"]):
                await self.journal.update_step(st.id, state="final",
                                               result={"leverage": str(position.leverage)})
            else:
                await self.journal.update_step(st.id, state="failed", error_code="not_applied",
                                               error_message=f"not applied: the leverage is "
                                                       f"{position.leverage}")

    # -- the steps --------------------------------------------------------------------

    async def _leverage(self, action_id: int, position: Position, targets: Targets,
                        report: CorrectionReport) -> Position:
        step = await self._steps(action_id, LEVERAGE_SEQ, LEVERAGE_SEQ + 1)
        report.leverage_before = Decimal(step[0].params["from"]) if step else position.leverage
        if step and step[0].state == "final":
            report.leverage_after = Decimal(step[0].result["leverage"])
            return position
        if position.leverage == targets.leverage:
            if step:  # sent before the bot stopped, and the venue took it
                await self.journal.update_step(step[0].id, state="final",
                                               result={"leverage": str(position.leverage)})
                report.leverage_after = position.leverage
            return position
        step_id = step[0].id if step else await self.journal.add_step(
            action_id, LEVERAGE_SEQ, "leverage",
            {"symbol": position.symbol, "side": position.side.value,
             "from": str(position.leverage), "to": str(targets.leverage)})
        await self.journal.update_step(step_id, state="sent")
        try:
            now = await self.venue.set_leverage(position.symbol, position.side,
                                                targets.leverage)
        except VenueError as exc:
            await self._failed(step_id, exc)
            raise
        await self.journal.update_step(step_id, state="final", result={"leverage": str(now)})
        report.leverage_after = now
        if now != targets.leverage:  # SPEC §8: what the venue reports back is the truth
            raise LeverageRejected(f"the leverage reads {now}x after setting it to "
                                   f"{targets.leverage}x", code="leverage_not_set",
                                   venue=self.venue.venue)
        return await self._read(position)  # its margin follows the leverage

    async def _close(self, action_id: int, position: Position, targets: Targets,
                     report: CorrectionReport) -> Position:
        begun = await self._steps(action_id, CLOSE_SEQ, MARGIN_SEQ)
        if begun:  # a close this action sent before: followed, never sent again
            close = report.close = ExcessClose(sum((Decimal(st.params["size"])
                                                    for st in begun), ZERO))
            for st in begun:
                if st.state == "planned":
                    await self.journal.update_step(
                        st.id, state="skipped", error_message="never sent: the bot stopped first")
                else:
                    close.outcomes.append(await self._order(
                        action_id, st.seq, st.kind, request_of(st.params)))
        else:
            size = excess_close(position, targets)
            if size == 0:
                return position
            book = await self.venue.order_book(position.symbol, self.settings.book_levels)
            plan = plan_close(position, size, book, self.settings, self.clock())
            result = await execute_close(self.executor, self.venue, action_id, plan,
                                         self.settings, first_seq=CLOSE_SEQ)
            close = report.close = ExcessClose(size, [await self._settled(action_id, o)
                                                      for o in result.outcomes])
        errors = [o.error for o in close.outcomes if o.error is not None]
        if errors:  # the venue's refusal stops the correction here, with its code
            raise errors[0]
        return await self._read(position)

    async def _margin(self, action_id: int, position: Position, targets: Targets,
                      report: CorrectionReport) -> None:
        moved = await self._steps(action_id, MARGIN_SEQ, None)
        for st in moved:
            if st.state == "final":
                report.moves.append(MarginMove(Decimal(st.params["amount"]),
                                               Decimal(st.params["margin_before"]),
                                               Decimal(st.result["margin_after"])))
            elif st.state != "failed":  # the bot stopped around it: the venue says
                position = await self._read(position)
                await self._decide(st, position.margin, report)
        if moved:
            position = await self._read(position)
        inst = position.instrument
        floor = margin_floor(position.size, position.mark_price, inst, targets)
        margin, seq = position.margin, MARGIN_SEQ + len(moved)
        for _ in range(MAX_MARGIN_MOVES):
            amount = next_margin_move(margin, floor, targets, started=bool(report.moves))
            if amount <= 0:
                return
            step_id = await self.journal.add_step(
                action_id, seq, "margin_out",
                {"symbol": position.symbol, "side": position.side.value,
                 "amount": str(amount), "margin_before": str(margin)})
            await self.journal.update_step(step_id, state="sent")
            try:
                change = await self.venue.change_margin(position.symbol, position.side,
                                                        -amount)
            except VenueUnavailable:  # it may have been applied: the venue's margin says
                position = await self._read(position)
                step = (await self._steps(action_id, seq, seq + 1))[0]
                await self._decide(step, position.margin, report)
                raise
            except VenueError as exc:
                await self._failed(step_id, exc)
                raise
            await self.journal.update_step(step_id, state="final",
                                           result={"margin_after": str(change.margin_after)})
            report.moves.append(MarginMove(amount, margin, change.margin_after))
            margin, seq = change.margin_after, seq + 1

    # -- helpers ------------------------------------------------------------------------

    async def _decide(self, step: Any, margin_now: Decimal, report: CorrectionReport) -> None:
        """A margin move of unknown fate, decided by the margin the venue holds now:
        applied if at least half of it left the position."""
        amount, before = Decimal(step.params["amount"]), Decimal(step.params["margin_before"])
        if margin_now <= before - amount / 2:
            await self.journal.update_step(step.id, state="final",
                                           result={"margin_after": str(margin_now)})
            report.moves.append(MarginMove(amount, before, margin_now))
        else:
            await self.journal.update_step(step.id, state="failed", error_code="not_applied",
                                           error_message=f"not applied: the margin is {margin_now}")

    async def _order(self, action_id: int, seq: int, kind: str, request: Any) -> Outcome:
        outcome = await self.executor.order_step(
            self.venue, action_id, seq, kind, request,
            follow_timeout=float(self.settings.follow_timeout_seconds))
        return await self._settled(action_id, outcome)

    async def _settled(self, action_id: int, outcome: Outcome) -> Outcome:
        """Margin cannot leave a position with a close order still live (OKX 59302), and
        what comes next depends on what it filled: followed to its end first."""
        if outcome.order is not None and not outcome.settled:
            return await self.executor.see_through(self.venue, action_id, outcome)
        return outcome

    async def _read(self, position: Position) -> Position:
        now = await held_position(self.venue, position.symbol, position.side)
        if now is None:
            raise PositionNotFound(f"no {position.symbol} {position.side} position any more",
                                   code="no_position", venue=self.venue.venue)
        return now

    async def _steps(self, action_id: int, first: int, end: int | None) -> list[Any]:
        action = await self.journal.action_with_steps(action_id)
        return sorted((s for s in action.steps
                       if s.seq >= first and (end is None or s.seq < end)),
                      key=lambda s: s.seq)

    async def _failed(self, step_id: int, exc: VenueError) -> None:
        await self.journal.update_step(step_id, state="failed", error_code=exc.code,
                                       error_message=str(exc))
