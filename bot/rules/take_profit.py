"""Progressive take-profit (止盈, SPEC §3): a pure decision, no I/O.

Per position a ladder of tiers (profit ≥ X% → close Y% of what is left). Tiers fire in
order, each at most once per position, and at most one per position per run; positions
with margin at or below the minimum take no part. The caller keeps how many tiers have
fired per position and records a tier *before* sending its order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from bot.domain import Position, Side
from bot.sizing import close_size_for_percent

PositionKey = tuple[str, str, Side]  # (account, symbol, side)


@dataclass(frozen=True, slots=True)
class Tier:
    profit_pct: Decimal  # fires when the profit rate is at least this
    close_pct: Decimal  # share of the current size to close


class Skip(StrEnum):
    MARGIN_TOO_SMALL = "margin_too_small"
    BELOW_THRESHOLD = "below_threshold"
    LADDER_DONE = "ladder_done"
    BELOW_MINIMUM = "below_minimum"  # the tier's close rounds below the venue minimum


@dataclass(frozen=True, slots=True)
class TierClose:
    position: Position
    tier: int  # 1-based
    rule: Tier
    size: Decimal  # contracts to close, on the lot


@dataclass(frozen=True, slots=True)
class TierStatus:
    """Where a position stands on its ladder: what /tp shows."""

    position: Position
    fired: int
    ladder: tuple[Tier, ...]
    skip: Skip | None
    next_tier: Tier | None


def ladder_status(position: Position, fired: int, ladder: Sequence[Tier],
                  min_margin: Decimal) -> TierStatus:
    next_tier = ladder[fired] if fired < len(ladder) else None
    if next_tier is None:
        skip: Skip | None = Skip.LADDER_DONE
    elif position.margin <= min_margin:
        skip = Skip.MARGIN_TOO_SMALL
    elif position.profit_rate < next_tier.profit_pct:
        skip = Skip.BELOW_THRESHOLD
    elif close_size_for_percent(position.size, next_tier.close_pct, position.instrument) == 0:
        skip = Skip.BELOW_MINIMUM
    else:
        skip = None
    return TierStatus(position, fired, tuple(ladder), skip, next_tier)


def take_profit(positions: Sequence[Position], fired: Mapping[PositionKey, int],
                ladder_for: Callable[[Position], Sequence[Tier]],
                min_margin: Decimal) -> list[TierClose]:
    """The tier closes this run should make: at most one per position."""
    closes = []
    for position in positions:
        # The cheap refusals first: this runs over every position of every account.
        if position.margin <= min_margin:
            continue
        count = fired.get(position.key, 0)
        ladder = ladder_for(position)
        if count >= len(ladder) or position.profit_rate < ladder[count].profit_pct:
            continue
        tier = ladder[count]
        size = close_size_for_percent(position.size, tier.close_pct, position.instrument)
        if size > 0:
            closes.append(TierClose(position, count + 1, tier, size))
    return closes
