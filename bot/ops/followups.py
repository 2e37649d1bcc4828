"""Orders nobody waits for any more, followed to their end in the background.

An order still live when its close stopped waiting (its cancel did not get through, the
venue went quiet), or whose fills could not be read, or found so at start, is never
abandoned: it is followed until the venue says what it became, its fills are journaled,
its action ends by what filled, and the end is told (`ActionSettled`).
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

from bot.domain import Order
from bot.fence import LeaseLost
from bot.ops.context import Context
from bot.ops.events import ActionSettled
from bot.venues.base import Venue

log = logging.getLogger(__name__)


class Followups:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._tasks: set[asyncio.Task[None]] = set()

    def adopt(self, venue: Venue, action_id: int, step_id: int, order: Order) -> None:
        task = asyncio.create_task(self._follow(venue, action_id, step_id, order),
                                   name=f"follow {order.client_id}")
        self._tasks.add(task)  # a task nobody references may be collected mid-flight
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Stop following (the bot stops): each order's step stays open, and the next
        start looks it up again."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def settled(self) -> None:
        """Until every adopted order ended (tests, and a clean stop that may wait)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _follow(self, venue: Venue, action_id: int, step_id: int, order: Order) -> None:
        try:
            await self.ctx.executor.follow_to_end(venue, action_id, step_id, order)
        except LeaseLost:  # another process of the cluster looks it up from the journal
            log.info("followup_lease_lost client_id=%s", order.client_id)
            return
        except Exception:  # the step stays open: the next start looks it up again
            log.exception("followup_failed client_id=%s", order.client_id)
            return
        await settle(self.ctx, action_id)

async def settle(ctx: Context, action_id: int, *, push: bool = True) -> None:
    """End an action whose orders are all settled, by what filled of what it meant to
    send (as a close that ran to its end says it: done, partial or failed), and tell it
    (`push`: in the alert chats too, not only in the action's own message)."""
    action = await ctx.store.action_with_steps(action_id)
    if action is None or action.state.is_final:
        return
    if {st.state for st in action.steps} & {"planned", "intended", "sent"}:
        return  # an order still open or unknown: it ends when that one does
    orders = await ctx.store.orders_for_action(action.id)
    placed = {o.step_id for o in orders}
    meant = sum((o.order.size for o in orders), Decimal(0)) + sum(
        (Decimal(st.params.get("size") or 0) for st in action.steps if st.id not in placed),
        Decimal(0))
    filled = sum((o.order.filled_size for o in orders), Decimal(0))
    state = "done" if meant and filled >= meant else "partial" if filled else "failed"
    if not await ctx.store.end_action(action_id, state):
        return  # ended meanwhile, by another of its orders settling: told there
    await ctx.publish(ActionSettled(
        kind=action.kind, where=(action.account, action.symbol or "", action.side or ""),
        action=action_id, state=state, filled=filled, meant=meant, chat_id=action.chat_id,
        message_id=action.message_id, pushed=push))
