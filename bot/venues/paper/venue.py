"""The async door onto the paper exchange for one account: the `Venue` the bot uses.

It adds what a network venue has and the engine does not: latency, and the answer that
never arrives although the order was placed (timeout after accept). Every write is
saved to the store before the answer is returned, so a crash right after an order
leaves it on record, as it would be on a real exchange.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal

from bot.domain import (
    Balance,
    Candle,
    Fill,
    Instrument,
    MarginChange,
    Order,
    OrderBook,
    OrderRequest,
    Position,
    Side,
)
from bot.venues.base import RequestTimeout
from bot.venues.paper.engine import VENUE, PaperExchange
from bot.venues.paper.store import PaperStore


class PaperVenue:
    venue = VENUE

    def __init__(self, exchange: PaperExchange, account: str,
                 store: PaperStore | None = None) -> None:
        self.exchange = exchange
        self.name = account
        self.store = store
        exchange.account(account)  # fail early on a name the engine does not know

    async def _enter(self) -> None:
        delay = self.exchange.faults.latency_seconds
        if delay:
            await asyncio.sleep(delay)

    def _saved(self) -> None:
        if self.store is not None:
            self.store.save_if_changed(self.exchange)

    async def instruments(self) -> Sequence[Instrument]:
        await self._enter()
        return list(self.exchange.instruments.values())

    async def instrument(self, symbol: str) -> Instrument:
        await self._enter()
        return self.exchange.instrument(symbol)

    async def positions(self) -> Sequence[Position]:
        await self._enter()
        return self.exchange.positions(self.name)

    async def balance(self) -> Balance:
        await self._enter()
        return self.exchange.balance(self.name)

    async def order_book(self, symbol: str, depth: int = 5) -> OrderBook:
        await self._enter()
        return self.exchange.order_book(symbol, depth)

    async def mark_price(self, symbol: str) -> Decimal:
        await self._enter()
        self.exchange.instrument(symbol)
        return self.exchange.market.mark(symbol)

    async def candles(self, symbol: str, bar: str = "5m", limit: int = 96) -> Sequence[Candle]:
        await self._enter()
        return self.exchange.candles(symbol, bar, limit)

    async def place_order(self, request: OrderRequest) -> Order:
        await self._enter()
        try:
            order = self.exchange.place_order(self.name, request)
        finally:
            self._saved()
        if self.exchange.faults.take_timeout(self.name):
            raise RequestTimeout("no answer after the order was sent", code="timeout",
                                 venue=VENUE)
        return order

    async def order_by_client_id(self, symbol: str, client_id: str) -> Order:
        await self._enter()
        return self.exchange.get_order(self.name, client_id=client_id)

    async def order_by_venue_id(self, symbol: str, venue_id: str) -> Order:
        await self._enter()
        return self.exchange.get_order(self.name, venue_id=venue_id)

    async def cancel_order(self, symbol: str, *, client_id: str | None = None,
                           venue_id: str | None = None) -> Order:
        await self._enter()
        try:
            return self.exchange.cancel_order(self.name, venue_id=venue_id, client_id=client_id)
        finally:
            self._saved()

    async def open_orders(self, symbol: str | None = None) -> Sequence[Order]:
        await self._enter()
        return self.exchange.open_orders(self.name, symbol)

    async def fills(self, symbol: str | None = None, *, client_id: str | None = None,
                    venue_id: str | None = None) -> Sequence[Fill]:
        await self._enter()
        return self.exchange.account_fills(self.name, symbol, client_id=client_id,
                                           venue_id=venue_id)

    async def set_leverage(self, symbol: str, side: Side, leverage: Decimal) -> Decimal:
        await self._enter()
        try:
            return self.exchange.set_leverage(self.name, symbol, side, leverage)
        finally:
            self._saved()

    async def change_margin(self, symbol: str, side: Side, amount: Decimal) -> MarginChange:
        await self._enter()
        try:
            return self.exchange.change_margin(self.name, symbol, side, amount)
        finally:
            self._saved()

    async def close(self) -> None:
        self._saved()
