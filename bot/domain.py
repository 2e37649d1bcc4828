"""Value types every layer speaks: instruments, positions, orders, fills.

Money, prices and sizes are `Decimal` everywhere. Sizes are in **contracts** (the unit
the venues trade in); `bot.sizing` converts to and from coin, notional and margin.
Fees are positive when paid and negative for a rebate (OKX reports the opposite sign;
adapters flip it at the edge so nothing inside has to remember).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal(0)


class Side(StrEnum):
    """The side of a position."""

    LONG = "long"
    SHORT = "short"

    @property
    def open_order_side(self) -> OrderSide:
        return OrderSide.BUY if self is Side.LONG else OrderSide.SELL

    @property
    def close_order_side(self) -> OrderSide:
        return OrderSide.SELL if self is Side.LONG else OrderSide.BUY


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(StrEnum):
    GTC = "gtc"  # good till cancelled
    IOC = "ioc"  # immediate or cancel: fill what the book holds now, cancel the rest
    GTT = "gtt"  # good till time: cancelled at `expire_at`


class OrderState(StrEnum):
    LIVE = "live"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"  # may carry a partial fill: filled_size > 0
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        return self not in (OrderState.LIVE, OrderState.PARTIALLY_FILLED)


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


@dataclass(frozen=True, slots=True)
class Instrument:
    """A perpetual swap as the venue specifies it (OKX: ctVal, lotSz, minSz, tickSz)."""

    symbol: str  # the venue's own id: "BTC-USDT-SWAP", "BTC/USDT:USDT", "1"
    base: str  # the coin a trader types: "BTC"
    contract_value: Decimal  # coin per contract
    lot_size: Decimal  # size step, in contracts
    min_size: Decimal  # smallest order, in contracts
    tick_size: Decimal  # price step
    max_market_size: Decimal | None = None  # largest single market order, in contracts
    max_leverage: Decimal = Decimal(100)
    quote: str = "USDT"


@dataclass(frozen=True, slots=True)
class Position:
    """One side of an isolated-margin position, as read from the venue."""

    account: str
    instrument: Instrument
    side: Side
    size: Decimal  # contracts, always positive
    entry_price: Decimal  # average entry
    mark_price: Decimal
    margin: Decimal  # isolated margin, USDT
    leverage: Decimal
    unrealized_pnl: Decimal
    profit_rate: Decimal  # percent: unrealized PnL / margin x 100 (or the venue's figure)

    @property
    def symbol(self) -> str:
        return self.instrument.symbol

    @property
    def key(self) -> tuple[str, str, Side]:
        """What identifies a position across reads: (account, instrument, side)."""
        return (self.account, self.instrument.symbol, self.side)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What to send. `client_id` is derived from the action that wants the order."""

    client_id: str
    symbol: str
    side: OrderSide
    position_side: Side
    type: OrderType
    size: Decimal  # contracts
    price: Decimal | None = None  # limit price, or the worst price a market order accepts
    reduce_only: bool = False
    time_in_force: TimeInForce = TimeInForce.GTC
    expire_at: datetime | None = None  # for GTT
    # This client id was never sent before (the executor's first attempt of a step): a
    # venue that asks whether it has the id before sending may skip asking. Not journaled.
    fresh: bool = field(default=False, compare=False)

    @property
    def opens(self) -> bool:
        """True when the order adds to its position side (buy long / sell short)."""
        return self.side is self.position_side.open_order_side


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the venue knows it."""

    client_id: str
    venue_id: str
    symbol: str
    side: OrderSide
    position_side: Side
    type: OrderType
    size: Decimal
    price: Decimal | None
    reduce_only: bool
    time_in_force: TimeInForce
    expire_at: datetime | None
    state: OrderState
    filled_size: Decimal = ZERO
    average_price: Decimal | None = None
    fee: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    created_at: datetime | None = None
    updated_at: datetime | None = None
    reject_code: str | None = None
    reject_reason: str | None = None

    @property
    def unfilled_size(self) -> Decimal:
        return self.size - self.filled_size


@dataclass(frozen=True, slots=True)
class Fill:
    trade_id: str
    order_venue_id: str
    client_id: str
    symbol: str
    side: OrderSide
    position_side: Side
    size: Decimal  # contracts
    price: Decimal
    fee: Decimal  # positive = paid
    realized_pnl: Decimal  # PnL of the closed part, before fees; zero for opens
    liquidity: Liquidity
    time: datetime


@dataclass(frozen=True, slots=True)
class Balance:
    currency: str
    equity: Decimal  # cash plus unrealized PnL of isolated positions
    free: Decimal  # available to open new positions


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: Decimal
    size: Decimal  # contracts


@dataclass(frozen=True, slots=True)
class OrderBook:
    symbol: str
    bids: tuple[BookLevel, ...]  # best first
    asks: tuple[BookLevel, ...]  # best first
    time: datetime | None = None

    def opposite_levels(self, side: OrderSide) -> tuple[BookLevel, ...]:
        """The levels an order of `side` takes liquidity from."""
        return self.asks if side is OrderSide.BUY else self.bids


@dataclass(frozen=True, slots=True)
class Candle:
    """One bar of an instrument's price: `time` is when the bar opens (UTC)."""

    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


@dataclass(frozen=True, slots=True)
class MarginChange:
    """The venue's answer to a margin add/reduce, read back afterwards."""

    symbol: str
    side: Side
    amount: Decimal  # positive = added, negative = removed
    margin_after: Decimal
    leverage_after: Decimal
