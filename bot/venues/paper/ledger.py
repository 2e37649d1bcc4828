"""Isolated-margin accounting of one paper account.

`cash` is the USDT not allocated to any position; each position holds its own margin.
Opening moves notional/leverage from cash into the position's margin and charges the
fee; closing releases the closed share of the margin plus the realized PnL, minus the
fee. Free balance is cash less what resting opening orders have reserved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from bot.domain import ZERO, Instrument, Position, Side
from bot.sizing import margin_for, profit_rate, unrealized_pnl


@dataclass(slots=True)
class PaperPosition:
    symbol: str
    side: Side
    size: Decimal = ZERO
    entry_price: Decimal = ZERO
    margin: Decimal = ZERO
    leverage: Decimal = Decimal(10)


@dataclass(slots=True)
class PaperAccount:
    name: str
    cash: Decimal
    reserved: Decimal = ZERO  # held back for resting opening orders
    positions: dict[tuple[str, Side], PaperPosition] = field(default_factory=dict)
    leverage: dict[tuple[str, Side], Decimal] = field(default_factory=dict)

    @property
    def free(self) -> Decimal:
        return self.cash - self.reserved

    def leverage_for(self, symbol: str, side: Side) -> Decimal:
        return self.leverage.get((symbol, side), Decimal(10))

    def position(self, symbol: str, side: Side) -> PaperPosition | None:
        pos = self.positions.get((symbol, side))
        return pos if pos is not None and pos.size > 0 else None

    def apply_open(self, inst: Instrument, side: Side, size: Decimal, price: Decimal,
                   fee: Decimal) -> None:
        key = (inst.symbol, side)
        pos = self.positions.get(key)
        if pos is None or pos.size == 0:
            pos = PaperPosition(inst.symbol, side, leverage=self.leverage_for(inst.symbol, side))
            self.positions[key] = pos
        added = margin_for(size, price, pos.leverage, inst)
        pos.entry_price = (pos.entry_price * pos.size + price * size) / (pos.size + size)
        pos.size += size
        pos.margin += added
        self.cash -= added + fee

    def apply_close(self, inst: Instrument, side: Side, size: Decimal, price: Decimal,
                    fee: Decimal) -> Decimal:
        """Close `size` of the position; returns the realized PnL (before fees)."""
        pos = self.positions[(inst.symbol, side)]
        realized = unrealized_pnl(side, size, pos.entry_price, price, inst)
        released = pos.margin if size >= pos.size else pos.margin * size / pos.size
        pos.size -= size
        pos.margin -= released
        self.cash += released + realized - fee
        if pos.size == 0:
            del self.positions[(inst.symbol, side)]
        return realized

    def snapshot(self, inst: Instrument, pos: PaperPosition, mark: Decimal) -> Position:
        upl = unrealized_pnl(pos.side, pos.size, pos.entry_price, mark, inst)
        return Position(
            account=self.name, instrument=inst, side=pos.side, size=pos.size,
            entry_price=pos.entry_price, mark_price=mark, margin=pos.margin,
            leverage=pos.leverage, unrealized_pnl=upl, profit_rate=profit_rate(upl, pos.margin),
        )
