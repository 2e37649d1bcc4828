"""Lighter's answers (lighter-sdk models, as dicts) in the domain's types.

Lighter sizes are in the base coin (a "contract" here is one coin), each market has its
own size and price decimals, and an account holds one net position per market (`sign`
1 long, -1 short). An order's status says how it ended, and a `canceled-…` status names
why: an order the venue accepted (`code 200`) may still end with nothing filled, and that
is reported as cancelled with the venue's reason, never as done (seed 000).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot.domain import (
    ZERO,
    Balance,
    BookLevel,
    Candle,
    Fill,
    Instrument,
    Liquidity,
    Order,
    OrderBook,
    OrderSide,
    OrderState,
    OrderType,
    Position,
    Side,
    TimeInForce,
)
from bot.sizing import HUNDRED, profit_rate
from bot.venues.lighter.wire import step_of

FEE_RATE_SCALE = Decimal(10) ** 6  # trades carry fee rates in millionths (inferred)
_TYPES = {"market": OrderType.MARKET}
_TIFS = {"immediate-or-cancel": TimeInForce.IOC, "good-till-time": TimeInForce.GTT,
         "post-only": TimeInForce.GTC}


@dataclass(frozen=True, slots=True)
class Market:
    """One perpetual market as orderBookDetails describes it."""

    market_id: int
    instrument: Instrument
    size_decimals: int
    price_decimals: int
    mark: Decimal | None

    @property
    def symbol(self) -> str:
        return self.instrument.symbol


def dec(value: Any, default: Decimal = ZERO) -> Decimal:
    """A decimal string of Lighter's ("" or missing: the default)."""
    return Decimal(str(value)) if value not in (None, "") else default


def market_from(detail: dict[str, Any]) -> Market | None:
    """A market; None for one not trading (its status is not active)."""
    if str(detail.get("status", "active")) != "active":
        return None
    size_dec, price_dec = int(detail["size_decimals"]), int(detail["price_decimals"])
    lot = step_of(size_dec)
    symbol = str(detail["symbol"])
    min_fraction = dec(detail.get("min_initial_margin_fraction"))  # in hundredths of a %
    inst = Instrument(symbol, symbol, Decimal(1), lot, max(lot, dec(detail.get("min_base_amount"))),
                      step_of(price_dec),
                      max_leverage=(Decimal(10_000) / min_fraction) if min_fraction else
                      Decimal(100), quote="USDC")
    mark = dec(detail.get("mark_price")) or dec(detail.get("last_trade_price")) or None
    return Market(int(detail["market_id"]), inst, size_dec, price_dec, mark)


def book_from(symbol: str, answer: dict[str, Any]) -> OrderBook:
    def levels(rows: list[dict[str, Any]]) -> tuple[BookLevel, ...]:
        return tuple(BookLevel(dec(r["price"]), dec(r["remaining_base_amount"])) for r in rows
                     if dec(r.get("remaining_base_amount")) > 0)

    bids = sorted(levels(answer.get("bids") or []), key=lambda lv: -lv.price)
    asks = sorted(levels(answer.get("asks") or []), key=lambda lv: lv.price)
    return OrderBook(symbol, tuple(bids), tuple(asks), datetime.now(UTC))


def position_from(account: str, row: dict[str, Any], market: Market) -> Position | None:
    size = dec(row.get("position"))
    if size == 0:
        return None
    side = Side.LONG if int(row.get("sign", 1)) > 0 else Side.SHORT
    margin, pnl = dec(row.get("allocated_margin")), dec(row.get("unrealized_pnl"))
    fraction = dec(row.get("initial_margin_fraction"))  # percent: "10.00" is 10x
    value = dec(row.get("position_value"))
    mark = value / size if value else market.mark or dec(row.get("avg_entry_price"))
    return Position(account, market.instrument, side, size, dec(row.get("avg_entry_price")),
                    mark, margin, (HUNDRED / fraction) if fraction else Decimal(1), pnl,
                    profit_rate(pnl, margin))


def balance_from(row: dict[str, Any]) -> Balance:
    return Balance("USDC", dec(row.get("total_asset_value") or row.get("collateral")),
                   dec(row.get("available_balance")))


def order_state(status: str, filled: Decimal) -> OrderState:
    if status == "filled":
        return OrderState.FILLED
    if status == "canceled-expired":
        return OrderState.EXPIRED
    if status.startswith("canceled"):
        return OrderState.CANCELED
    return OrderState.PARTIALLY_FILLED if filled > 0 else OrderState.LIVE


def position_side(is_ask: bool, reduce_only: bool) -> Side:
    """The side an order trades: a reduce-only ask closes a long; any other ask sells
    into (or opens) a short."""
    return Side.LONG if is_ask == reduce_only else Side.SHORT


def order_from(row: dict[str, Any], market: Market, client_id: str) -> Order:
    is_ask, reduce_only = bool(row.get("is_ask")), bool(row.get("reduce_only"))
    filled, quote = dec(row.get("filled_base_amount")), dec(row.get("filled_quote_amount"))
    status = str(row.get("status", ""))
    state = order_state(status, filled)
    expiry = int(row.get("order_expiry") or 0)
    return Order(
        client_id=client_id, venue_id=str(row["order_index"]), symbol=market.symbol,
        side=OrderSide.SELL if is_ask else OrderSide.BUY,
        position_side=position_side(is_ask, reduce_only),
        type=_TYPES.get(str(row.get("type")), OrderType.LIMIT),
        size=dec(row.get("initial_base_amount")), price=dec(row.get("price")) or None,
        reduce_only=reduce_only,
        time_in_force=_TIFS.get(str(row.get("time_in_force")), TimeInForce.GTC),
        expire_at=datetime.fromtimestamp(expiry / 1000, UTC) if expiry > 0 else None,
        state=state, filled_size=filled, average_price=quote / filled if filled else None,
        created_at=_time(row.get("created_at") or row.get("timestamp")),
        updated_at=_time(row.get("updated_at") or row.get("timestamp")),
        reject_reason=status if state is OrderState.CANCELED and status != "canceled" else None)


def fill_from(trade: dict[str, Any], market: Market, account_index: int, order: Order
              ) -> Fill:
    """One trade of `order`, from our side of it: which side we were, our fee, our PnL."""
    we_ask = int(trade.get("ask_account_id", -1)) == account_index
    maker = bool(trade.get("is_maker_ask")) == we_ask
    rate = dec(trade.get("maker_fee" if maker else "taker_fee"))
    usd = dec(trade.get("usd_amount"))
    return Fill(trade_id=str(trade["trade_id"]), order_venue_id=order.venue_id,
                client_id=order.client_id, symbol=market.symbol, side=order.side,
                position_side=order.position_side, size=dec(trade.get("size")),
                price=dec(trade.get("price")), fee=usd * rate / FEE_RATE_SCALE,
                realized_pnl=dec(trade.get("ask_account_pnl" if we_ask else "bid_account_pnl")),
                liquidity=Liquidity.MAKER if maker else Liquidity.TAKER,
                time=_time(trade.get("timestamp")) or datetime.now(UTC))


def _time(value: Any) -> datetime | None:
    """Lighter's timestamps: seconds, or milliseconds (13 digits)."""
    if not value:
        return None
    number = int(value)
    return datetime.fromtimestamp(number / 1000 if number > 10**11 else number, UTC)


def candle_from(row: dict[str, Any]) -> Candle:
    """A candle: `t` its open in ms; prices are JSON numbers, which the SDK reads as floats
    and a float's shortest repr gives back exactly as sent."""
    return Candle(datetime.fromtimestamp(int(row["t"]) / 1000, UTC), dec(row["o"]),
                  dec(row["h"]), dec(row["l"]), dec(row["c"]))
