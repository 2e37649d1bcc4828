"""Finding positions: the one lookup by account, symbol and side that every command uses,
and the overview `/positions` (and any other front) shows."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.domain import Position, Side
from bot.ops.context import VENUE_READ_TIMEOUT, Context
from bot.ops.refusal import Refusal
from bot.ops.symbols import choose_positions, resolve_instrument
from bot.ops.take_profit import every_tier_status
from bot.rules.take_profit import TierStatus
from bot.venues.base import VenueError


@dataclass(frozen=True, slots=True)
class PositionView:
    position: Position
    take_profit: TierStatus | None  # None: take-profit is off on this account


@dataclass(frozen=True, slots=True)
class AccountPositions:
    account: str
    venue: str
    positions: list[PositionView]
    error: str | None = None  # the read failed: why
    timed_out: bool = False  # no answer within VENUE_READ_TIMEOUT

    @property
    def unreadable(self) -> bool:
        return self.error is not None or self.timed_out


class Positions:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def find(self, symbol: str, account: str | None = None,
                   side: Side | None = None) -> list[Position]:
        """The positions `SYMBOL [account] [side]` means: one, or both sides of one
        account. Refused with the reason when the symbol or the position is unknown."""
        accounts = [account] if account else list(self.ctx.venues)
        held, instruments, first_refusal = {}, {}, None
        try:
            for name in accounts:
                venue = self.ctx.venue(name)
                try:
                    inst = resolve_instrument(symbol, await venue.instruments())
                except Refusal as exc:
                    first_refusal = first_refusal or exc
                    continue
                instruments[name] = inst
                held[name] = [p for p in await venue.positions() if p.symbol == inst.symbol]
        except VenueError as exc:
            raise Refusal("venue_read_failed", error=str(exc)) from None
        if not instruments:
            assert first_refusal is not None
            raise first_refusal
        return choose_positions(symbol, side, held, instruments)

    async def known_symbol(self, symbol: str) -> None:
        """Refused as a command would be when no venue knows the symbol."""
        refusals = []
        for venue in self.ctx.venues.values():
            try:
                resolve_instrument(symbol, await venue.instruments())
                return
            except Refusal as exc:
                refusals.append(exc)
            except VenueError as exc:
                refusals.append(Refusal("venue_read_failed", error=str(exc)))
        raise refusals[0]

    async def overview(self, account: str | None = None) -> list[AccountPositions]:
        """Every account's positions (or one account's), sorted, each with its next
        take-profit tier; an account that cannot be read says why instead."""
        names = list(self.ctx.venues)
        if account is not None:
            wanted = {n.lower(): n for n in names}.get(account.lower())
            if wanted is None:
                raise Refusal("unknown_account", name=account[:40], names=", ".join(names))
            names = [wanted]
        read = await asyncio.gather(*(self._read(n) for n in names))
        held = {name: got for name, got in read if isinstance(got, list)}
        statuses = await every_tier_status(self.ctx, held)
        return [AccountPositions(name, self.ctx.venue(name).venue, [
                    PositionView(p, status)
                    for p, status in zip(got, statuses[name], strict=True)])
                if isinstance(got, list) else got for name, got in read]

    async def _read(self, name: str) -> tuple[str, list[Position] | AccountPositions]:
        """The account's positions, sorted, or the unreadable account saying why."""
        venue = self.ctx.venue(name)
        try:
            held = await asyncio.wait_for(venue.positions(), VENUE_READ_TIMEOUT)
        except TimeoutError:
            return name, AccountPositions(name, venue.venue, [], timed_out=True)
        except Exception as exc:  # an overview names any failure; it never raises
            return name, AccountPositions(name, venue.venue, [],
                                          str(exc) or type(exc).__name__)
        return name, sorted(held, key=lambda p: (p.symbol, p.side.value))
