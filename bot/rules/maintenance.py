"""Anchor maintenance (维护, SPEC §5): the plans, pure, no I/O.

Every maintenance closes first and opens after (opening first fails with OKX 51008: the
balance is already in use), then closes most of what it opened:
- normal: close all → open `multiplier` × the old size → close all but `keep_share_pct` %;
- super: close all → open a position of `amount` USDT margin → close down to the size
  whose margin is `target` USDT. `amount`/`target` come from a ladder by maintenance count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from bot.domain import Instrument, Position
from bot.sizing import (
    HUNDRED,
    close_size_for_percent,
    close_size_to_keep,
    keep_size_for_margin,
    margin_for,
    notional,
    open_size_for_margin,
    round_size_down,
)


class Kind(StrEnum):
    NORMAL = "maintain"
    SUPER = "supermaintain"


@dataclass(frozen=True, slots=True)
class LadderTier:
    amount: Decimal
    target: Decimal


def super_tier(count: int, ladder: Sequence[LadderTier]) -> LadderTier | None:
    """The tier for the next super maintenance after `count` done; None past the end."""
    return ladder[count] if count < len(ladder) else None


@dataclass(frozen=True, slots=True)
class Plan:
    kind: Kind
    position: Position  # the old position, as read before planning
    price: Decimal  # the price the sizes were planned at
    open_size: Decimal  # step 2, contracts
    final_close: Decimal  # step 3, contracts (recomputed from what step 2 really filled)
    amount: Decimal | None = None  # super: margin of the opened position
    target: Decimal | None = None  # super: margin kept

    @property
    def kept(self) -> Decimal:
        return self.open_size - self.final_close

    def open_margin(self) -> Decimal:
        return margin_for(self.open_size, self.price, self.position.leverage,
                          self.position.instrument)

    def fees(self, fee_pct: Decimal) -> Decimal:
        """Estimated fees of the three market orders."""
        inst, rate = self.position.instrument, fee_pct / HUNDRED
        sizes = self.position.size + self.open_size + self.final_close
        return notional(sizes, self.price, inst) * rate


class PlanError(ValueError):
    """A maintenance that cannot be planned; `key`/`values` name the reason for messages."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key, values)
        self.key = key
        self.values = values


def plan_normal(position: Position, price: Decimal, multiplier: Decimal,
                keep_share_pct: Decimal) -> Plan:
    open_size = round_size_down(position.size * multiplier, position.instrument)
    return _closing_something(Plan(
        Kind.NORMAL, position, price, open_size,
        final_close_normal(opened=open_size, keep_share_pct=keep_share_pct,
                           inst=position.instrument)))


def final_close_normal(*, opened: Decimal, keep_share_pct: Decimal, inst: Instrument) -> Decimal:
    """Step 3 of a normal maintenance: close all but `keep_share_pct` % of what opened."""
    return close_size_for_percent(opened, HUNDRED - keep_share_pct, inst)


def plan_super(position: Position, price: Decimal, amount: Decimal, target: Decimal) -> Plan:
    inst = position.instrument
    open_size = open_size_for_margin(amount, price, position.leverage, inst)
    if open_size == 0:
        raise PlanError("amount_too_small", amount=amount)
    return _closing_something(Plan(
        Kind.SUPER, position, price, open_size,
        final_close_super(opened=open_size, price=price, target=target,
                          leverage=position.leverage, inst=inst), amount, target))


def _closing_something(plan: Plan) -> Plan:
    """A maintenance whose step 3 would close nothing at this lot size keeps all it opens:
    not what was asked, so it is refused before anything is sent."""
    if plan.final_close == 0:
        raise PlanError("nothing_to_close", opened=plan.open_size,
                        lot=plan.position.instrument.lot_size)
    return plan


def final_close_super(*, opened: Decimal, price: Decimal, target: Decimal, leverage: Decimal,
                      inst: Instrument) -> Decimal:
    """Step 3 of a super maintenance: close down to the size whose margin is `target`."""
    keep = keep_size_for_margin(target, price, leverage, inst)
    return close_size_to_keep(opened, keep, inst)


@dataclass(frozen=True, slots=True)
class Shortfall:
    free_after_close: Decimal
    needed: Decimal


def precheck(plan: Plan, free: Decimal, fee_pct: Decimal) -> Shortfall | None:
    """Will the free balance, once the old position is closed and its margin and PnL are
    back, cover step 2's margin and the fees? None when it will."""
    old = plan.position
    free_after = free + old.margin + old.unrealized_pnl
    needed = plan.open_margin() + plan.fees(fee_pct)
    return Shortfall(free_after, needed) if needed > free_after else None
