"""Grid hedge (SPEC §10, seed 001), pure: from a grid, its ledger and what the venue says,
the orders to place and the decisions not to — each one data, so "why did my hedge not
trigger?" has an answer that names one of them.

A grid buys at its buy levels below the market. A BUY at level i that ended filled (all
or part: what filled counts) gets its SELL hedge at sell level i; a SELL at level i that
filled puts the BUY at level i back. Before any order: a level past the other side's
levels gets no order (`out_of_range`); an order of the same (direction, level, leg)
already resting is not placed again (`duplicate`); a SELL larger than what the venue says
the account holds long (× `sell_protection_ratio`) is blocked, since in a long-only grid
it would open a short (`sell_blocked`); a size or price that does not fit the market, or
an order below its minimum, is refused here with the reason (`rejected`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from bot.domain import ZERO, Instrument, OrderSide, Side
from bot.sizing import round_price, round_size_down


class Direction(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def order_side(self) -> OrderSide:
        return OrderSide.BUY if self is Direction.BUY else OrderSide.SELL


class Why(StrEnum):
    """Why a grid does not place an order (the event names end with these)."""

    OUT_OF_RANGE = "out_of_range"
    DUPLICATE = "duplicate"
    SELL_BLOCKED = "sell_blocked"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Grid:
    name: str
    symbol: str
    leg: Side
    size: Decimal  # per level, in contracts
    buy_levels: tuple[Decimal, ...]
    sell_levels: tuple[Decimal, ...]
    sell_protection_ratio: Decimal


@dataclass(frozen=True, slots=True)
class Resting:
    """An order of the grid the venue still holds."""

    direction: Direction
    level: int
    leg: Side


@dataclass(frozen=True, slots=True)
class Ended:
    """An order of the grid that ended, with what it filled in all."""

    direction: Direction
    level: int
    filled: Decimal


@dataclass(frozen=True, slots=True)
class Place:
    direction: Direction
    level: int
    size: Decimal
    price: Decimal
    after: Direction | None  # the fill it answers; None: the grid's start


@dataclass(frozen=True, slots=True)
class Skip:
    direction: Direction
    level: int
    why: Why
    after: Direction | None
    # The numbers behind the decision, for each front to say in its own words:
    # out_of_range: levels; sell_blocked: size, held, ratio; rejected here: size,
    # rounded, lot, minimum (or price, tick); rejected by the venue: code, reason,
    # size, price.
    facts: tuple[tuple[str, str], ...] = ()

    @property
    def numbers(self) -> dict[str, str]:
        return dict(self.facts)

    @property
    def detail(self) -> str:
        """The decision in plain English, for the log line and the events table."""
        n, level = self.numbers, self.level + 1
        match self.why:
            case Why.OUT_OF_RANGE:
                return f"level {level} of {n['levels']} {self.direction.value} levels"
            case Why.DUPLICATE:
                return f"a {self.direction.value} at level {level} is resting already"
            case Why.SELL_BLOCKED:
                return (f"selling {n['size']} would exceed the {n['held']} held long "
                        f"(x {n['ratio']}): it would open a short")
        if "code" in n:
            return f"the venue refused {n['size']} at {n['price']}: {n['reason']} ({n['code']})"
        if "tick" in n:
            return f"price {n['price']} is not a price on the tick {n['tick']}"
        return (f"size {n['size']} is {n['rounded']} on the lot {n['lot']}, below the "
                f"minimum {n['minimum']}")


def facts(**numbers: object) -> tuple[tuple[str, str], ...]:
    return tuple((key, str(value)) for key, value in numbers.items())


Decision = Place | Skip


def start(grid: Grid, resting: Iterable[Resting], mark: Decimal, inst: Instrument
          ) -> list[Decision]:
    """The BUY orders a grid rests at its levels below the market."""
    held = set(resting)
    return [_order(grid, held, Direction.BUY, i, grid.size, inst, None, long_held=None)
            for i, price in enumerate(grid.buy_levels) if price < mark]


def after_fills(grid: Grid, ended: Sequence[Ended], resting: Iterable[Resting],
                long_held: Decimal, inst: Instrument) -> list[Decision]:
    """What answers each order that ended with something filled: a BUY's SELL hedge, a
    SELL's BUY again. `long_held` is the venue's long position, not the ledger's."""
    held, decisions = set(resting), []
    for fill in ended:
        if fill.filled <= 0:
            continue
        answer = Direction.SELL if fill.direction is Direction.BUY else Direction.BUY
        decision = _order(grid, held, answer, fill.level, fill.filled, inst, fill.direction,
                          long_held=long_held)
        if isinstance(decision, Place):
            held.add(Resting(answer, fill.level, grid.leg))
            if answer is Direction.SELL:
                long_held -= decision.size  # the next SELL of this run has that much less
        decisions.append(decision)
    return decisions


def _order(grid: Grid, held: set[Resting], direction: Direction, level: int,
           size: Decimal, inst: Instrument, after: Direction | None, *,
           long_held: Decimal | None) -> Decision:
    levels = grid.buy_levels if direction is Direction.BUY else grid.sell_levels
    if level >= len(levels):
        return Skip(direction, level, Why.OUT_OF_RANGE, after, facts(levels=len(levels)))
    if Resting(direction, level, grid.leg) in held:
        return Skip(direction, level, Why.DUPLICATE, after)
    if direction is Direction.SELL and grid.leg is Side.LONG and long_held is not None \
            and long_held < size * grid.sell_protection_ratio:
        return Skip(direction, level, Why.SELL_BLOCKED, after,
                    facts(size=size, held=long_held, ratio=grid.sell_protection_ratio))
    rounded = round_size_down(size, inst)
    price = round_price(levels[level], inst, direction.order_side)
    if rounded < inst.min_size or rounded <= ZERO:
        return Skip(direction, level, Why.REJECTED, after,
                    facts(size=size, rounded=rounded, lot=inst.lot_size, minimum=inst.min_size))
    if price <= ZERO:
        return Skip(direction, level, Why.REJECTED, after,
                    facts(price=levels[level], tick=inst.tick_size))
    return Place(direction, level, rounded, price, after)
