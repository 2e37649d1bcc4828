"""The one reusable close (SPEC §7), for commands and rules alike.

Reduce-only, always. If the opposite side's top levels hold the size, one market order
bounded by a worst price; otherwise reduce-only good-till-time limit orders at the best
price ∓ an offset, in batches placed a few seconds apart, each followed to its end.
The result says what filled and what did not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from bot.config_rules import CloseSettings
from bot.domain import ZERO, OrderBook, OrderRequest, OrderSide, OrderType, Position, TimeInForce
from bot.execution import GTT_GRACE_SECONDS, Executor, Outcome, OutcomeTotals
from bot.sizing import HUNDRED, round_price, split_batches, unrealized_pnl, with_slippage
from bot.venues.base import Venue

log = logging.getLogger(__name__)


class CloseMethod(StrEnum):
    MARKET = "market"
    LIMIT_BATCHES = "limit_batches"


@dataclass(frozen=True, slots=True)
class ClosePlan:
    position: Position
    size: Decimal  # contracts
    method: CloseMethod
    orders: tuple[OrderRequest, ...]
    estimated_price: Decimal
    estimated_pnl: Decimal


def plan_close(position: Position, size: Decimal, book: OrderBook, settings: CloseSettings,
               now: datetime) -> ClosePlan:
    inst, side = position.instrument, position.side.close_order_side
    top = book.opposite_levels(side)[: settings.book_levels]
    best = top[0].price if top else position.mark_price
    worst = with_slippage(best, side, settings.slippage_pct, inst)
    # Only levels the worst price lets a market order reach count as liquidity.
    levels = [lv for lv in top if (lv.price >= worst if side is OrderSide.SELL
                                   else lv.price <= worst)]
    depth = sum((lv.size for lv in levels), ZERO)

    def order(size_: Decimal, kind: OrderType, price: Decimal, tif: TimeInForce,
              expire_at: datetime | None = None) -> OrderRequest:
        return OrderRequest("", position.symbol, side, position.side, kind, size_, price,
                            reduce_only=True, time_in_force=tif, expire_at=expire_at)

    if levels and depth >= size:
        orders: tuple[OrderRequest, ...] = (order(size, OrderType.MARKET, worst,
                                                  TimeInForce.IOC),)
        left, notional = size, ZERO
        for lv in levels:
            take = min(left, lv.size)
            notional += take * lv.price
            left -= take
        estimate, method = notional / size, CloseMethod.MARKET
    else:
        factor = settings.limit_offset_pct / HUNDRED
        raw = best * (1 - factor) if side is OrderSide.SELL else best * (1 + factor)
        price = round_price(raw, inst, side)
        expire = now + timedelta(seconds=settings.gtt_seconds)
        orders = tuple(order(part, OrderType.LIMIT, price, TimeInForce.GTT, expire)
                       for part in split_batches(size, settings.batches, inst))
        estimate, method = price, CloseMethod.LIMIT_BATCHES
    pnl = unrealized_pnl(position.side, size, position.entry_price, estimate, inst)
    return ClosePlan(position, size, method, orders, estimate, pnl)


@dataclass(slots=True)
class CloseResult(OutcomeTotals):
    plan: ClosePlan
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def unfilled_size(self) -> Decimal:
        return self.plan.size - self.filled_size

    @property
    def settled(self) -> bool:
        """Every order is final or was refused: what filled is all that will fill."""
        return all(o.settled for o in self.outcomes)

    @property
    def state(self) -> str:
        """How the action that ran this close ends: done, partial or failed."""
        return ("done" if self.unfilled_size == 0 else
                "partial" if self.filled_size > 0 else "failed")

    @property
    def problem(self) -> str:
        """What makes two failures "the same": the venue's codes, else the errors."""
        errors = [o.error for o in self.outcomes if o.error is not None]
        return ", ".join(sorted({e.code or str(e) for e in errors})) or "not filled"

    def summary(self) -> dict[str, object]:
        """What the action's journal keeps of the close."""
        return {"filled": str(self.filled_size), "fee": str(self.fee),
                "pnl": str(self.realized_pnl), "errors": self.errors}


Progress = Callable[[CloseResult], Awaitable[None]]


async def execute_close(executor: Executor, venue: Venue, action_id: int, plan: ClosePlan,
                        settings: CloseSettings, progress: Progress | None = None,
                        first_seq: int = 1) -> CloseResult:
    result = CloseResult(plan)

    async def one(seq: int, request: OrderRequest, timeout: float) -> None:
        outcome = await executor.order_step(venue, action_id, seq, "close", request,
                                            follow_timeout=timeout)
        result.outcomes.append(outcome)
        if progress is not None:
            try:
                await progress(result)
            except Exception:  # showing progress must never stop the close
                log.exception("close_progress_not_shown")

    if plan.method is CloseMethod.MARKET:
        await one(first_seq, plan.orders[0], float(settings.follow_timeout_seconds))
        return result
    await executor.plan_steps(action_id, [(first_seq + n, "close", request)
                                          for n, request in enumerate(plan.orders)])
    timeout = settings.gtt_seconds + GTT_GRACE_SECONDS
    tasks = []
    for n, request in enumerate(plan.orders):
        if n:
            await executor.sleep(float(settings.batch_interval_seconds))
        tasks.append(asyncio.create_task(one(first_seq + n, request, timeout)))
    await asyncio.gather(*tasks)
    return result
