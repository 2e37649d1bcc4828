"""Error correction (纠错, SPEC §6), pure: what brings one position back to its targets.

In this order: the leverage set to the target; a notional above target × (1 + tolerance)
closed down to the target notional (reduce-only); a margin above target × (1 + tolerance)
moved out of the position, at most `margin_step` at a time, down to the target and never
below what the venue requires (the initial margin at the mark and the target leverage).
It never adds size or margin of its own accord. Margins and notionals after each step
are estimates for the preview: the op reads the venue back after every step and decides
the next one from what it reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot.domain import ZERO, Instrument, Position
from bot.sizing import (
    HUNDRED,
    close_size_to_keep,
    keep_size_for_notional,
    margin_for,
    notional,
    round_down,
)

CENT = Decimal("0.01")  # margin moves are whole cents: never a fraction below the floor


@dataclass(frozen=True, slots=True)
class Targets:
    """What a position should look like, by its maintenance count (config)."""

    leverage: Decimal
    notional: Decimal
    margin: Decimal
    tolerance_pct: Decimal
    margin_step: Decimal

    def to_json(self) -> dict[str, str]:
        return {name: str(getattr(self, name)) for name in self.__slots__}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Targets:
        return cls(**{name: Decimal(data[name]) for name in cls.__slots__})

    def above(self, value: Decimal, target: Decimal) -> bool:
        """Past the target by more than the tolerance."""
        return value > target * (1 + self.tolerance_pct / HUNDRED)


@dataclass(frozen=True, slots=True)
class CorrectionPlan:
    """The steps for one position, and what each is expected to leave."""

    position: Position
    targets: Targets
    leverage_to: Decimal | None  # None: the leverage is the target already
    close_size: Decimal  # contracts, reduce-only; 0: the notional is within tolerance
    notional_after: Decimal
    margin_moves: tuple[Decimal, ...]  # USDT out of the position, each ≤ margin_step
    margin_after: Decimal
    floor: Decimal  # the least margin the position may keep: the target, or what the venue needs

    @property
    def notional_before(self) -> Decimal:
        p = self.position
        return notional(p.size, p.mark_price, p.instrument)

    @property
    def needed(self) -> bool:
        return self.leverage_to is not None or self.close_size > 0 or bool(self.margin_moves)


def excess_close(position: Position, targets: Targets) -> Decimal:
    """Contracts to close so the notional at the mark is back at the target (the size kept
    rounded up to the lot, so it never ends below it); 0 while within tolerance."""
    inst, mark = position.instrument, position.mark_price
    if not targets.above(notional(position.size, mark, inst), targets.notional):
        return ZERO
    keep = keep_size_for_notional(targets.notional, mark, inst)
    return close_size_to_keep(position.size, keep, inst)


def margin_floor(size: Decimal, mark: Decimal, inst: Instrument, targets: Targets) -> Decimal:
    """The target margin, or the initial margin the venue requires of `size` contracts at
    the target leverage if that is more."""
    return max(targets.margin, margin_for(size, mark, targets.leverage, inst))


def next_margin_move(margin: Decimal, floor: Decimal, targets: Targets, *,
                     started: bool) -> Decimal:
    """The next amount to move out of a position holding `margin`: none while within
    tolerance of the target (unless moves already `started`: they go on down to the
    floor), at most `margin_step`, never below `floor`."""
    if not started and not targets.above(margin, targets.margin):
        return ZERO
    return max(ZERO, round_down(min(targets.margin_step, margin - floor), CENT))


def plan_correction(position: Position, targets: Targets) -> CorrectionPlan:
    p, inst = position, position.instrument
    leverage_to = targets.leverage if p.leverage != targets.leverage else None
    # An isolated position's margin follows its leverage when that is set (OKX
    # recomputes it at the entry price), and a close releases its share of the margin.
    margin = margin_for(p.size, p.entry_price, targets.leverage, inst) if leverage_to \
        else p.margin
    size = p.size - (close := excess_close(p, targets))
    if close:
        margin = margin * size / p.size
    floor = margin_floor(size, p.mark_price, inst, targets)
    moves: list[Decimal] = []
    while (move := next_margin_move(margin, floor, targets, started=bool(moves))) > 0:
        moves.append(move)
        margin -= move
    return CorrectionPlan(p, targets, leverage_to, close, notional(size, p.mark_price, inst),
                      tuple(moves), margin, floor)
