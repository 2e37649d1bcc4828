"""What `/chart SYMBOL [account]` draws, as plain data: the venue's recent candles, each
side held with its average entry and the price at which each take-profit tier fires, and
the bot's own fills in that window. A front draws it; nothing here knows a picture."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from bot.domain import Candle, Fill, Instrument, Position
from bot.ops.context import VENUE_READ_TIMEOUT, Context
from bot.ops.refusal import Refusal
from bot.ops.symbols import resolve_instrument
from bot.ops.take_profit import tier_status
from bot.sizing import price_at_profit_rate
from bot.venues.base import VenueError, bar_seconds

T = TypeVar("T")
BAR = "5m"
BARS = 96  # eight hours of five-minute bars


@dataclass(frozen=True, slots=True)
class TierLine:
    tier: int  # 1-based
    profit_pct: Decimal
    price: Decimal  # where the position's profit rate reaches profit_pct
    fired: bool


@dataclass(frozen=True, slots=True)
class HeldSide:
    position: Position
    tiers: tuple[TierLine, ...] | None  # None: take-profit is off on the account


@dataclass(frozen=True, slots=True)
class ChartData:
    account: str
    venue: str
    instrument: Instrument
    bar: str
    bar_seconds: int
    candles: tuple[Candle, ...]  # oldest first
    held: tuple[HeldSide, ...]  # long before short; empty when nothing is held
    fills: tuple[Fill, ...]  # the bot's, since the first candle, oldest first


@dataclass(frozen=True, slots=True)
class _Looked:
    account: str
    instrument: Instrument
    held: list[Position]


async def tier_lines(ctx: Context, account: str, position: Position
                     ) -> tuple[TierLine, ...] | None:
    """The position's ladder as prices; a tier a short can never reach (at or below
    zero) is left out, and so is every tier of a position without margin (no rate)."""
    status = await tier_status(ctx, account, position)
    if status is None:
        return None
    if position.margin <= 0:
        return ()
    lines = []
    for n, tier in enumerate(status.ladder, 1):
        price = price_at_profit_rate(position.side, position.size, position.entry_price,
                                     position.margin, tier.profit_pct, position.instrument)
        if price > 0:
            lines.append(TierLine(n, tier.profit_pct, price, n <= status.fired))
    return tuple(lines)


def _unreachable(account: str, exc: Exception) -> Refusal:
    error = str(exc) or f"no answer within {VENUE_READ_TIMEOUT:g} s"
    return Refusal("chart_venue_down", account=account, error=error[:300])


class Charts:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def data(self, symbol: str, account: str | None = None, bar: str = BAR,
                   limit: int = BARS) -> ChartData:
        """The chart of `symbol` on `account`, or on the one account holding it; with
        nothing held anywhere, on the first account that trades it (the market and the
        bot's fills still tell something). Refused when there is nothing to draw."""
        seconds = bar_seconds(bar)
        chosen = await self._choose(symbol, account)
        name, inst = chosen.account, chosen.instrument
        venue = self.ctx.venue(name)
        try:
            candles = tuple(await self._read(venue.candles(inst.symbol, bar, limit)))
        except (VenueError, TimeoutError) as exc:
            raise _unreachable(name, exc) from None
        if not candles:
            raise Refusal("chart_no_candles", symbol=inst.symbol, account=name)
        held = tuple([HeldSide(p, await tier_lines(self.ctx, name, p))
                      for p in sorted(chosen.held, key=lambda p: p.side.value)])
        fills = tuple(r.fill for r in await self.ctx.store.fills_on(name, inst.symbol,
                                                                     candles[0].time))
        return ChartData(name, venue.venue, inst, bar, seconds, candles, held, fills)

    async def _choose(self, symbol: str, account: str | None) -> _Looked:
        names = [self._account_name(account)] if account else list(self.ctx.venues)
        looked: list[_Looked] = []
        unknown: Refusal | None = None
        down: Refusal | None = None
        for name in names:
            try:
                looked.append(await self._look(name, symbol))
            except Refusal as exc:
                unknown = unknown or exc
            except (VenueError, TimeoutError) as exc:
                down = down or _unreachable(name, exc)
        if not looked:
            # A venue that did not answer may trade the symbol: say it was not reached.
            refusal = down or unknown
            assert refusal is not None
            raise refusal
        holders = [one for one in looked if one.held]
        if account is None and len(holders) > 1:
            raise Refusal("several_accounts", what=symbol.upper()[:30], side="",
                          accounts=", ".join(one.account for one in holders))
        return holders[0] if holders else looked[0]

    def _account_name(self, account: str) -> str:
        """The configured name, typed in any case, as /positions takes it."""
        names = {name.lower(): name for name in self.ctx.venues}
        name = names.get(account.lower())
        if name is None:
            raise Refusal("unknown_account", name=account[:40], names=", ".join(self.ctx.venues))
        return name

    async def _look(self, name: str, symbol: str) -> _Looked:
        venue = self.ctx.venue(name)
        inst = resolve_instrument(symbol, await self._read(venue.instruments()))
        held = [p for p in await self._read(venue.positions()) if p.symbol == inst.symbol]
        return _Looked(name, inst, held)

    @staticmethod
    async def _read(call: Awaitable[T]) -> T:
        return await asyncio.wait_for(call, VENUE_READ_TIMEOUT)
