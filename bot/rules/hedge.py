"""Hedge loss (对冲, SPEC §4): a pure decision, no I/O.

Where one account holds both a long and a short on an instrument and one side is in
profit while the other is at a loss, the losing side is closed down to the size whose
margin is `keep_margin` USDT (1 by default), unless its margin is already that small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from bot.domain import Position, Side
from bot.sizing import HUNDRED, close_size_to_keep, keep_size_for_margin


@dataclass(frozen=True, slots=True)
class HedgeClose:
    loser: Position
    winner: Position
    size: Decimal  # contracts to close
    keep: Decimal  # contracts left

    @property
    def share_pct(self) -> Decimal:
        return self.size / self.loser.size * HUNDRED


@dataclass(frozen=True, slots=True)
class HedgeSkip:
    loser: Position
    winner: Position
    reason: str  # "margin_too_small" | "already_small"


def pairs(positions: Sequence[Position]) -> list[tuple[Position, Position]]:
    """(long, short) of every instrument an account holds on both sides."""
    longs: dict[tuple[str, str], Position] = {}
    shorts: dict[tuple[str, str], Position] = {}
    for p in positions:
        (longs if p.side is Side.LONG else shorts)[(p.account, p.instrument.symbol)] = p
    return [(long, shorts[key]) for key, long in longs.items() if key in shorts]


def hedge(positions: Sequence[Position], keep_margin: Decimal,
          min_margin: Decimal) -> tuple[list[HedgeClose], list[HedgeSkip]]:
    closes, skips = [], []
    for long, short in pairs(positions):
        if long.profit_rate > 0 and short.profit_rate < 0:
            winner, loser = long, short
        elif short.profit_rate > 0 and long.profit_rate < 0:
            winner, loser = short, long
        else:
            continue
        if loser.margin <= min_margin:
            skips.append(HedgeSkip(loser, winner, "margin_too_small"))
            continue
        keep = keep_size_for_margin(keep_margin, loser.mark_price, loser.leverage,
                                    loser.instrument)
        size = close_size_to_keep(loser.size, keep, loser.instrument)
        if size == 0:
            skips.append(HedgeSkip(loser, winner, "already_small"))
            continue
        closes.append(HedgeClose(loser, winner, size, loser.size - size))
    return closes, skips
