"""Prices for the paper venue: a mark per instrument on a seeded random walk (or held
still, or set by a test), an order book of finite depth around it, and the marks' history
as candles (candles.py).

The book is regenerated from the mark whenever the mark moves; between moves, market
orders consume it, so two market orders in a row do not both get the best price and a
large order runs out of liquidity as it would on a real venue.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from bot.domain import BookLevel, Instrument, OrderSide
from bot.sizing import round_down, round_nearest, round_up
from bot.venues.paper.candles import MarkHistory


@dataclass(slots=True)
class BookShape:
    """How the synthetic book looks around the mark."""

    levels: int = 10
    half_spread_bps: Decimal = Decimal("2")  # best bid/ask distance from the mark
    level_step_bps: Decimal = Decimal("5")  # distance between consecutive levels
    level_notional: Decimal = Decimal("5000")  # USDT resting on each level


@dataclass(slots=True)
class _Book:
    bids: list[list[Decimal]] = field(default_factory=list)  # [price, size], best first
    asks: list[list[Decimal]] = field(default_factory=list)
    pinned: bool = False  # set by a test: survives mark moves


class Market:
    def __init__(self, instruments: dict[str, Instrument], marks: dict[str, Decimal], *,
                 clock: Callable[[], datetime], seed: int = 7, step: Decimal = Decimal("0.002"),
                 shape: BookShape | None = None) -> None:
        self.instruments = instruments
        self.marks = dict(marks)
        self.frozen: set[str] = set()
        self.step = step
        self.shape = shape or BookShape()
        self._rng = random.Random(seed)
        self._books: dict[str, _Book] = {}
        self.history = MarkHistory(instruments, seed=seed, step=step, clock=clock)
        for symbol, price in self.marks.items():
            self.history.record(symbol, price)

    # -- marks ------------------------------------------------------------------------

    def mark(self, symbol: str) -> Decimal:
        return self.marks[symbol]

    def set_mark(self, symbol: str, price: Decimal) -> None:
        inst = self.instruments[symbol]
        price = round_down(price, inst.tick_size)
        if price <= 0:
            raise ValueError(f"mark for {symbol} must stay positive")
        self.marks[symbol] = price
        self.history.record(symbol, price)
        book = self._books.get(symbol)
        if book is not None and not book.pinned:
            del self._books[symbol]

    def freeze(self, symbol: str | None = None) -> None:
        self.frozen.update([symbol] if symbol else self.instruments)

    def walk(self) -> list[str]:
        """Move every unfrozen mark one random step; returns the symbols that moved."""
        moved = []
        for symbol, inst in self.instruments.items():
            if symbol in self.frozen:
                continue
            mark = self.marks[symbol]
            move = mark * self.step * Decimal(repr(round(self._rng.gauss(0, 1), 6)))
            new = round_nearest(mark + move, inst.tick_size)
            if new > 0 and new != mark:
                self.set_mark(symbol, new)
                moved.append(symbol)
        return moved

    def random_state(self) -> list:
        version, internal, gauss_next = self._rng.getstate()
        return [version, list(internal), gauss_next]

    def set_random_state(self, state: list) -> None:
        version, internal, gauss_next = state
        self._rng.setstate((version, tuple(internal), gauss_next))

    # -- books ------------------------------------------------------------------------

    def set_book(self, symbol: str, bids: list[tuple[Decimal, Decimal]],
                 asks: list[tuple[Decimal, Decimal]]) -> None:
        """Pin an exact book (tests): orders consume it; mark moves leave it in place."""
        self._books[symbol] = _Book(
            bids=[[p, s] for p, s in sorted(bids, key=lambda lv: -lv[0])],
            asks=[[p, s] for p, s in sorted(asks, key=lambda lv: lv[0])],
            pinned=True,
        )

    def book(self, symbol: str, depth: int) -> tuple[tuple[BookLevel, ...], tuple[BookLevel, ...]]:
        b = self._book(symbol)
        bids = tuple(BookLevel(p, s) for p, s in b.bids if s > 0)[:depth]
        asks = tuple(BookLevel(p, s) for p, s in b.asks if s > 0)[:depth]
        return bids, asks

    def take(self, symbol: str, side: OrderSide, size: Decimal, limit: Decimal | None, *,
             dry_run: bool = False) -> list[tuple[Decimal, Decimal]]:
        """Consume liquidity for an order of `side` up to `size`, never beyond `limit`.
        Returns the (price, size) executed per level, best first; `dry_run` only looks."""
        levels = self._book(symbol).asks if side is OrderSide.BUY else self._book(symbol).bids
        taken: list[tuple[Decimal, Decimal]] = []
        left = size
        for level in levels:
            if left <= 0:
                break
            price, available = level
            if available <= 0:
                continue
            if limit is not None and (price > limit if side is OrderSide.BUY else price < limit):
                break
            q = min(left, available)
            if not dry_run:
                level[1] = available - q
            left -= q
            taken.append((price, q))
        return taken

    def _book(self, symbol: str) -> _Book:
        book = self._books.get(symbol)
        if book is None:
            book = self._generate(symbol)
            self._books[symbol] = book
        return book

    def _generate(self, symbol: str) -> _Book:
        inst = self.instruments[symbol]
        mark = self.marks[symbol]
        shape = self.shape
        bps = Decimal("0.0001")
        size = round_down(shape.level_notional / (mark * inst.contract_value), inst.lot_size)
        size = max(size, inst.min_size)
        bids, asks = [], []
        for i in range(shape.levels):
            offset = mark * (shape.half_spread_bps + shape.level_step_bps * i) * bps
            bid = round_down(mark - offset, inst.tick_size)
            ask = round_up(mark + offset, inst.tick_size)
            if bid > 0 and (not bids or bid < bids[-1][0]):
                bids.append([bid, size])
            if not asks or ask > asks[-1][0]:
                asks.append([ask, size])
        return _Book(bids=bids, asks=asks)
