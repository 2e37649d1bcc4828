"""The paper market's price history: its marks as candles.

Every mark the market takes (a set mark, a random-walk step) is folded at once into the
bar it falls in, for every bar length, so memory stays bounded however long the demo
runs (MAX_BARS bars per instrument and bar length) and a read only looks bars up. A bar
with no mark in it repeats the last close: the mark held still, and a chart ends now.

Before the first mark (the exchange's start, or its load from disk) there is no history,
so it is made up: the same seeded random walk, run backwards from that starting mark,
one made-up mark every MADE_UP_SECONDS. It depends only on the seed, the instrument and
the starting mark, so a fresh demo has a chart to show, the same one every time, and
nothing of it needs saving.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from bot.domain import Candle, Instrument
from bot.sizing import round_nearest
from bot.venues.base import BAR_SECONDS, bar_seconds

MAX_BARS = 300  # per instrument and bar length; OKX too gives at most 300 a request
MADE_UP_SECONDS = 15


@dataclass(slots=True)
class _Bar:
    start: int  # epoch seconds of the bar's open
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal

    @classmethod
    def of(cls, start: int, price: Decimal) -> _Bar:
        return cls(start, price, price, price, price)

    def later(self, price: Decimal) -> None:
        self.high, self.low, self.close = max(self.high, price), min(self.low, price), price

    def earlier(self, price: Decimal) -> None:
        self.high, self.low, self.open = max(self.high, price), min(self.low, price), price

    def candle(self) -> Candle:
        return Candle(_moment(self.start), self.open, self.high, self.low, self.close)


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class MarkHistory:
    def __init__(self, instruments: Mapping[str, Instrument], *, seed: int, step: Decimal,
                 clock: Callable[[], datetime]) -> None:
        self._instruments = instruments
        self._seed = seed
        self._step = step
        self._clock = clock
        self._bars: dict[tuple[str, str], deque[_Bar]] = {}  # (symbol, bar) -> oldest first
        self._start: dict[str, tuple[int, Decimal]] = {}  # symbol -> its first mark
        self._made_up: dict[tuple[str, str], list[Candle]] = {}  # nearest the start first

    def record(self, symbol: str, price: Decimal) -> None:
        now = _seconds(self._clock())
        self._start.setdefault(symbol, (now, price))
        for bar, length in BAR_SECONDS.items():
            bars = self._bars.setdefault((symbol, bar), deque(maxlen=MAX_BARS))
            start = now - now % length
            if bars and bars[-1].start >= start:
                # The bar is forming, or a clock was set back (tests do): the newest takes it.
                bars[-1].later(price)
            else:
                bars.append(_Bar.of(start, price))

    def candles(self, symbol: str, bar: str, limit: int) -> list[Candle]:
        """The last `limit` (at most MAX_BARS) bars up to now, oldest first."""
        length = bar_seconds(bar)
        limit = min(limit, MAX_BARS)
        if limit <= 0 or symbol not in self._start:
            return []
        recorded = self._bars[(symbol, bar)]
        now = _seconds(self._clock())
        last = max(now - now % length, recorded[-1].start)
        first = last - (limit - 1) * length
        started_at, close = self._start[symbol]
        start_bar = started_at - started_at % length
        made_up = self._made_up_before(symbol, bar, (start_bar - first) // length)
        real_from = max(first, start_bar)
        by_start = {b.start: b for b in recorded}
        for older in recorded:  # the close a window's first, markless bars repeat
            if older.start < real_from:
                close = older.close
        candles = made_up[::-1]
        for start in range(real_from, last + 1, length):
            found = by_start.get(start)
            if found is None:
                candles.append(Candle(_moment(start), close, close, close, close))
            else:
                candles.append(found.candle())
                close = found.close
        return candles

    def _made_up_before(self, symbol: str, bar: str, count: int) -> list[Candle]:
        """`count` made-up bars before the start's own bar, nearest it first. The walk back
        is the same for any count, so a longer one only adds older bars."""
        if count <= 0:
            return []
        cached = self._made_up.get((symbol, bar), [])
        if len(cached) < count:
            cached = self._walk_back(symbol, BAR_SECONDS[bar], count)
            self._made_up[(symbol, bar)] = cached
        return cached[:count]

    def _walk_back(self, symbol: str, length: int, count: int) -> list[Candle]:
        moment, price = self._start[symbol]
        start_bar = moment - moment % length
        tick = self._instruments[symbol].tick_size
        rng = random.Random(f"{self._seed}:{symbol}")
        bars: list[Candle] = []
        forming: _Bar | None = None
        while True:
            moment -= MADE_UP_SECONDS
            price = self._step_back(price, rng, tick)
            if moment >= start_bar:
                continue  # the start's own bar is real: it opens at the starting mark
            start = moment - moment % length
            if forming is not None and forming.start == start:
                forming.earlier(price)  # walking back, a bar's first mark met is its close
                continue
            if forming is not None:
                bars.append(forming.candle())
                if len(bars) == count:
                    return bars
            forming = _Bar.of(start, price)

    def _step_back(self, price: Decimal, rng: random.Random, tick: Decimal) -> Decimal:
        """The mark one step before `price`: the forward step `p + p x step x g` undone,
        to the nearest tick (rounding one way every step would drift thousands of steps
        away)."""
        factor = 1 + self._step * Decimal(repr(round(rng.gauss(0, 1), 6)))
        earlier = round_nearest(price / factor, tick) if factor > 0 else price
        return earlier if earlier > 0 else price
