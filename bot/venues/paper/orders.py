"""The paper venue's own mutable order record; `to_order()` gives the domain view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bot.domain import ZERO, Order, OrderSide, OrderState, OrderType, Side, TimeInForce


@dataclass(slots=True)
class PaperOrder:
    venue_id: str
    account: str
    client_id: str
    symbol: str
    side: OrderSide
    position_side: Side
    type: OrderType
    size: Decimal
    price: Decimal | None
    reduce_only: bool
    time_in_force: TimeInForce
    expire_at: datetime | None
    created_at: datetime
    updated_at: datetime
    state: OrderState = OrderState.LIVE
    filled_size: Decimal = ZERO
    filled_notional: Decimal = ZERO  # sum of price x size, for the average price
    fee: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    reserved: Decimal = ZERO  # free balance held for the unfilled part of an opening order
    stuck: bool = False  # accepted under the never-fill fault: never matches

    @property
    def opens(self) -> bool:
        return self.side is self.position_side.open_order_side

    @property
    def unfilled(self) -> Decimal:
        return self.size - self.filled_size

    def record_fill(self, size: Decimal, price: Decimal, fee: Decimal, realized: Decimal,
                    now: datetime) -> None:
        self.filled_size += size
        self.filled_notional += size * price
        self.fee += fee
        self.realized_pnl += realized
        self.updated_at = now
        self.state = OrderState.FILLED if self.unfilled == 0 else OrderState.PARTIALLY_FILLED

    def finish(self, state: OrderState, now: datetime) -> None:
        self.state = state
        self.updated_at = now

    def to_order(self) -> Order:
        return Order(
            client_id=self.client_id, venue_id=self.venue_id, symbol=self.symbol,
            side=self.side, position_side=self.position_side, type=self.type, size=self.size,
            price=self.price, reduce_only=self.reduce_only, time_in_force=self.time_in_force,
            expire_at=self.expire_at, state=self.state, filled_size=self.filled_size,
            average_price=(self.filled_notional / self.filled_size) if self.filled_size else None,
            fee=self.fee, realized_pnl=self.realized_pnl, created_at=self.created_at,
            updated_at=self.updated_at,
        )
