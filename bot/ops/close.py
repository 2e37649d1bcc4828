"""Closing a position: the preview a command confirms, and the one close path that the
command and every rule run (hold the position, read the book, journal the action,
execute through the one close procedure, set the action's state)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.busy import PositionBusy
from bot.closing import (
    CloseMethod,
    ClosePlan,
    CloseResult,
    Progress,
    execute_close,
    plan_close,
)
from bot.domain import ZERO, Position, Side
from bot.ops.context import Context
from bot.ops.events import CloseFinished
from bot.ops.followups import Followups
from bot.ops.refusal import Contracts, Refusal, Usdt
from bot.sizing import (
    HUNDRED,
    close_size_for_coin,
    close_size_for_percent,
    coin_from_contracts,
    contracts_from_coin,
)
from bot.venues.base import VenueError, held_position

log = logging.getLogger(__name__)

__all__ = ["Amount", "CloseMethod", "ClosePlan", "CloseResult", "Closing", "close_size"]


@dataclass(frozen=True, slots=True)
class Amount:
    """How much to close: `all`, a percentage of the position, a coin amount, or an exact
    number of contracts (a size confirmed before, asked again)."""

    kind: str  # "all" | "percent" | "coin" | "contracts"
    value: Decimal = Decimal(0)

    def __str__(self) -> str:
        return {"all": "all", "percent": f"{self.value}%",
                "contracts": f"{self.value} ct"}.get(self.kind, str(self.value))


def close_size(position: Position, amount: Amount) -> Decimal:
    """Contracts to close, on the lot, with the venue minimum's rules applied."""
    inst = position.instrument
    if amount.kind == "all":
        return position.size
    if amount.kind == "contracts":
        if amount.value > position.size:
            raise Refusal("changed_smaller", held=Contracts(position.size, inst))
        return amount.value
    if amount.kind == "percent":
        if amount.value > HUNDRED:
            raise Refusal("percent_over", word=f"{amount.value}%")
        size = close_size_for_percent(position.size, amount.value, inst)
    else:
        held = coin_from_contracts(position.size, inst)
        if contracts_from_coin(amount.value, inst) > position.size:
            raise Refusal("above_position", amount=f"{amount.value} {inst.base}",
                          held=f"{held.normalize():f} {inst.base}")
        size = close_size_for_coin(position.size, amount.value, inst)
    if size <= 0:
        minimum = coin_from_contracts(inst.min_size, inst)
        raise Refusal("below_minimum", amount=str(amount),
                      minimum=f"{minimum.normalize():f} {inst.base}")
    return size


@dataclass(frozen=True, slots=True)
class ClosedAction:
    action: int
    result: CloseResult


Journaled = Callable[[int], Awaitable[None]]


class Closing:
    def __init__(self, ctx: Context, followups: Followups) -> None:
        self.ctx = ctx
        self.followups = followups

    async def preview(self, position: Position, amount: Amount) -> ClosePlan:
        """What closing `amount` of the position would send now, and at what estimate."""
        size = close_size(position, amount)
        settings = self.ctx.config.rules.close
        try:
            book = await self.ctx.venue(position.account).order_book(position.symbol,
                                                                     settings.book_levels)
        except VenueError as exc:
            raise Refusal("venue_read_failed", error=str(exc)) from None
        return plan_close(position, size, book, settings, self.ctx.clock())

    async def run_command(self, account: str, symbol: str, side: Side, size: Decimal, *,
                          requested_by: int, chat_id: int, message_id: int,
                          plan: dict[str, Any], started: Callable[[Position], Awaitable[None]],
                          progress: Progress | None = None,
                          confirmed_price: Decimal | None = None
                          ) -> tuple[Position, CloseResult]:
        """A confirmed `/close`: the position is read again first, since it may have moved
        since the question; refused if it is gone or smaller than the size, or if the
        estimated price moved by more than the slippage allowed since it was confirmed
        (`estimate_moved`: ask again)."""
        try:
            position = await held_position(self.ctx.venue(account), symbol, side)
        except VenueError as exc:
            raise Refusal("venue_read_failed", error=str(exc)) from None
        if position is None:
            raise Refusal("changed_gone", symbol=symbol, side=side.value, account=account)
        if size > position.size:
            raise Refusal("changed_smaller", held=Contracts(position.size, position.instrument))
        try:
            closed = await self.close(position, size, kind="close", origin="command",
                                      plan=plan, requested_by=requested_by, chat_id=chat_id,
                                      message_id=message_id, started=started,
                                      progress=progress, confirmed_price=confirmed_price)
        except VenueError as exc:  # the book read, before anything was journaled or sent
            raise Refusal("venue_read_failed", error=str(exc)) from None
        await self.ctx.publish(CloseFinished(position=position, action=closed.action,
                                             result=closed.result))
        return position, closed.result

    async def close(self, position: Position, size: Decimal, *, kind: str, origin: str,
                    plan: dict[str, Any], requested_by: int | None = None,
                    chat_id: int | None = None, message_id: int | None = None,
                    journaled: Journaled | None = None,
                    started: Callable[[Position], Awaitable[None]] | None = None,
                    progress: Progress | None = None,
                    confirmed_price: Decimal | None = None) -> ClosedAction:
        """The one close path. Holds the position while it runs (refused if another
        action holds it), reads the book before the action exists (a failed read leaves
        nothing half-started), journals the action, calls `journaled(action)` before any
        order is sent, and ends the action as done, partial or failed."""
        ctx, key = self.ctx, (position.account, position.symbol, position.side.value)
        settings = ctx.config.rules.close
        venue = ctx.venue(position.account)
        try:
            with ctx.busy.hold(key):
                book = await venue.order_book(position.symbol, settings.book_levels)
                close_plan = plan_close(position, size, book, settings, ctx.clock())
                if confirmed_price is not None:
                    _still_as_confirmed(close_plan, confirmed_price, settings.slippage_pct)
                action = await ctx.store.create_action(kind, position.account, position.symbol,
                                                       position.side.value, origin, plan,
                                                       requested_by=requested_by, chat_id=chat_id)
                if journaled is not None:
                    await journaled(action)
                await ctx.store.update_action(action, state="running", message_id=message_id)
                if started is not None:
                    try:
                        await started(position)
                    except Exception:  # showing progress must never stop the close
                        log.exception("close_start_not_shown")
                try:
                    result = await execute_close(ctx.executor, venue, action, close_plan,
                                                 settings, progress)
                except Exception as exc:
                    await ctx.store.update_action(action, state="failed", error=str(exc)[:500])
                    raise ActionFailed(action, exc) from exc
        except PositionBusy:
            raise Refusal("position_busy", symbol=position.symbol, side=position.side.value,
                          account=position.account) from None
        unsettled = [o for o in result.outcomes if not o.settled]
        if not unsettled:
            await ctx.store.update_action(action, state=result.state, result=result.summary())
            return ClosedAction(action, result)
        # An order still live (its cancel did not get through) is followed to its end in
        # the background, which ends the action; one of unknown fate waits for the next
        # start's look-up. Either way the action is not over yet.
        await ctx.store.update_action(action, result=result.summary())
        steps = {st.client_id: st.id for st in (await ctx.store.action_with_steps(action)).steps}
        for outcome in unsettled:
            if outcome.order is not None:
                self.followups.adopt(venue, action, steps[outcome.client_id], outcome.order)
        return ClosedAction(action, result)

    async def sent_anything(self, action: int) -> bool:
        """Did any order of the action reach (or maybe reach) the venue?"""
        record = await self.ctx.store.action_with_steps(action)
        return record is not None and any(st.state != "failed" for st in record.steps)


def _still_as_confirmed(plan: ClosePlan, confirmed: Decimal, slippage_pct: Decimal) -> None:
    """The user confirmed an estimate; if the market moved it by more than the slippage
    allowed, they are asked again rather than surprised."""
    moved = abs(plan.estimated_price - confirmed) / confirmed * HUNDRED if confirmed else ZERO
    if moved > slippage_pct:
        raise Refusal("estimate_moved", was=confirmed, now=plan.estimated_price,
                      moved=moved.quantize(Decimal("0.01")), pnl=Usdt(plan.estimated_pnl))


class ActionFailed(Exception):
    """A journaled action stopped on an error; it is marked failed in the journal."""

    def __init__(self, action: int, cause: Exception) -> None:
        super().__init__(str(cause) or type(cause).__name__)
        self.action = action
        self.cause = cause
