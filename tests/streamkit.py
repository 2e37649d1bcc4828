"""What the tests of the venues' streams share: waiting for a condition, and the orders
the engine saw as (account, side, position side, size, reduce-only)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal

from bot.domain import OrderSide, Side
from bot.venues.paper.engine import PaperExchange


async def until(condition: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition never held")
        await asyncio.sleep(0.01)


def closes(exchange: PaperExchange) -> list[tuple]:
    return [(o.account, o.side, o.position_side, o.size, o.reduce_only)
            for o in exchange.orders.values()]


def long_closed(account: str, size: str) -> tuple:
    """A row of `closes`: a reduce-only SELL of `size` off the long."""
    return (account, OrderSide.SELL, Side.LONG, Decimal(size), True)
