"""The bot's orders still resting (a close's limit batches, a grid's levels), as the
journal has them, and cancelling one: `/orders` and the status page show the same list.

A cancel goes to the venue by our client id, and what the venue answers is journaled on
the order; whatever follows the order (a close's batches, the grid's run) then sees it
ended and its action reports so, as for any order that ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import Order
from bot.ops.context import Context
from bot.ops.events import OrderCancelled
from bot.ops.refusal import Refusal
from bot.venues.base import VenueError
from db.records import ActionRecord


@dataclass(frozen=True, slots=True)
class RestingOrder:
    account: str
    order: Order
    action_id: int | None
    action_kind: str | None  # close, take_profit, hedge, maintenance, grid, … (None: none)
    grid: str | None = None  # the grid's name, for a grid's level
    level: int | None = None  # the grid level, 1 = the first


class Orders:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def resting(self, account: str | None = None) -> list[RestingOrder]:
        """Oldest first. Refused for an account that is not configured."""
        if account is not None:
            try:
                account = self.ctx.config.account(account).name
            except KeyError:
                raise Refusal("unknown_account", name=account[:40], names=", ".join(
                    a.name for a in self.ctx.config.accounts)) from None
        store = self.ctx.store
        kinds: dict[int, ActionRecord | None] = {}
        found = []
        for record in await store.open_orders(account):
            action = None
            if record.action_id is not None:
                if record.action_id not in kinds:
                    kinds[record.action_id] = await store.action_with_steps(record.action_id)
                action = kinds[record.action_id]
            grid = level = None
            if action is not None and action.kind == "grid":
                grid = str(action.plan.get("grid"))
                step = next((s for s in action.steps if s.id == record.step_id), None)
                level = int(step.kind.split(":", 1)[1]) + 1 if step is not None else None
            found.append(RestingOrder(record.account, record.order, record.action_id,
                                      action.kind if action is not None else None,
                                      grid, level))
        return found

    async def cancel(self, account: str, client_id: str, by_user: int | None = None) -> Order:
        """Cancel one of the bot's resting orders at the venue; the order as it ended."""
        record = await self.ctx.store.get_order(account, client_id)
        if record is None or record.order.state.is_final:
            raise Refusal("order_not_resting", client_id=client_id[:40])
        venue = self.ctx.venue(account)
        try:
            order = await venue.cancel_order(record.order.symbol, client_id=client_id)
        except VenueError as exc:
            raise Refusal("cancel_failed", client_id=client_id[:40],
                          error=str(exc)[:200]) from None
        await self.ctx.store.upsert_order(account, order, record.action_id, record.step_id)
        await self.ctx.publish(OrderCancelled(order=order, account_name=account,
                                              action=record.action_id, by_user=by_user))
        return order
