"""ccxt's unified structures to our domain types, ccxt's exceptions to our taxonomy, and
the few per-exchange differences ("dialects") in how hedge mode is spoken.

ccxt gives numbers as Python floats. A float converted through its shortest repr gives
back exactly the decimal string the exchange sent (up to 15 significant digits), so
`dec()` goes through `repr`; the reverse, `num()`, refuses any Decimal a float cannot
carry exactly, so a size is never silently changed on its way out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt
from ccxt.base.decimal_to_precision import DECIMAL_PLACES, TICK_SIZE

from bot.domain import (
    ZERO,
    Candle,
    Fill,
    Instrument,
    Liquidity,
    Order,
    OrderSide,
    OrderState,
    OrderType,
    Position,
    Side,
    TimeInForce,
)
from bot.sizing import profit_rate
from bot.venues import base
from bot.venues.okx.codes import OKX_ERRORS, okx_error

STATES = {"closed": OrderState.FILLED, "canceled": OrderState.CANCELED,
          "expired": OrderState.EXPIRED, "rejected": OrderState.REJECTED}
# Most specific first: RateLimitExceeded and RequestTimeout are NetworkErrors too.
EXCEPTIONS: tuple[tuple[type[Exception], type[base.VenueError]], ...] = (
    (ccxt.RateLimitExceeded, base.RateLimited),
    (ccxt.DDoSProtection, base.RateLimited),
    (ccxt.RequestTimeout, base.RequestTimeout),
    (ccxt.NetworkError, base.VenueUnavailable),  # incl. ExchangeNotAvailable, OnMaintenance
    (ccxt.BadResponse, base.VenueUnavailable),
    (ccxt.AuthenticationError, base.AuthenticationFailed),
    (ccxt.InsufficientFunds, base.InsufficientMargin),
    (ccxt.OrderNotFound, base.OrderUnknown),
    (ccxt.InvalidOrder, base.InvalidOrder),
    (ccxt.BadSymbol, base.UnknownInstrument),
    (ccxt.BadRequest, base.InvalidOrder),
)
# Bitget's codes that say more than ccxt's class (from ccxt's own map; see venues.md §2.4),
# and some ccxt leaves a plain ExchangeError: 40786 "Duplicate clientOid" (Bitget's SDK
# docs), 22002 "No position to close", 40757 "Not enough position is available", and
# 40015 "System is abnormal, please try again later" (an order's outcome is unknown).
BITGET_ERRORS: dict[str, type[base.VenueError]] = {
    "40762": base.InsufficientMargin, "43012": base.InsufficientMargin,
    "40711": base.InsufficientMargin, "40712": base.InsufficientMargin,
    "40808": base.BadPrecision, "45110": base.BelowMinimumSize,
    "40768": base.OrderUnknown, "40109": base.OrderUnknown, "43001": base.OrderUnknown,
    "429": base.RateLimited, "40786": base.InvalidOrder, "40757": base.InvalidOrder,
    "22002": base.PositionNotFound, "40015": base.VenueUnavailable,
}
DUPLICATE_CLIENT_ID = {"okx": "51016", "bitget": "40786"}


# -- numbers --------------------------------------------------------------------------


def dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, float):
        # 100.0 reads as 100, not "100.0": whole numbers stay whole in messages.
        return Decimal(int(value)) if value.is_integer() else Decimal(repr(value))
    return Decimal(str(value))


def dec0(value: Any) -> Decimal:
    number = dec(value)
    return ZERO if number is None else number


def num(value: Decimal) -> float:
    as_float = float(value)
    if Decimal(repr(as_float)) != value:
        raise base.InvalidOrder(f"{value} cannot be sent through ccxt without rounding",
                                venue="ccxt")
    return as_float


def when(ms: Any) -> datetime | None:
    return datetime.fromtimestamp(int(ms) / 1000, UTC) if ms else None


def candle_from(row: list[Any]) -> Candle:
    """ccxt's OHLCV row `[ms, open, high, low, close, volume]`."""
    moment = when(row[0])
    if moment is None:
        raise base.VenueError("a candle without its time", venue="ccxt")
    return Candle(moment, dec0(row[1]), dec0(row[2]), dec0(row[3]), dec0(row[4]))


# -- errors ---------------------------------------------------------------------------


def _code_and_message(text: str, exchange_id: str) -> tuple[str | None, str]:
    """ccxt raises with `"<id> <response body>"`: the venue's code and message are in it."""
    body = text.removeprefix(exchange_id + " ").strip()
    try:
        answer = json.loads(body)
    except ValueError:
        return None, text[:300]
    if not isinstance(answer, dict):
        return None, text[:300]
    data = answer.get("data")
    for item in data if isinstance(data, list) else []:
        if isinstance(item, dict) and item.get("sCode") not in (None, "", "0"):
            return str(item["sCode"]), str(item.get("sMsg") or "")
    code = answer.get("code")
    return (str(code) if code not in (None, "") else None,
            str(answer.get("msg") or answer.get("message") or ""))


def venue_error(exc: Exception, exchange_id: str) -> base.VenueError:
    venue = f"ccxt:{exchange_id}"
    code, message = _code_and_message(str(exc), exchange_id)
    if code and exchange_id == "okx" and code.split("_")[0] in OKX_ERRORS:
        return okx_error(code, message or None, venue=venue)
    if code and exchange_id == "bitget" and code in BITGET_ERRORS:
        return BITGET_ERRORS[code](message or str(exc), code=code, venue=venue)
    cls = next((ours for theirs, ours in EXCEPTIONS if isinstance(exc, theirs)),
               base.VenueError)
    return cls(message or type(exc).__name__, code=code, venue=venue)


# -- hedge-mode dialects --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one exchange wants the position side said in ccxt params."""

    side_key: str | None  # param naming the position side of an order, or None: `hedged`
    leverage_key: str  # param naming the side for set_leverage
    margin_key: str  # param naming the side for add/reduce margin
    leverage_by_margin_mode: bool = True  # set/fetch_leverage take marginMode=isolated
    # ccxt's position `percentage` is the venue's own figure (OKX's uplRatio); False when
    # ccxt computes it (Bitget: unrealizedPL / marginSize cut to 4 decimals): ours is exact.
    venue_profit_rate: bool = True
    book_depths: tuple[int, ...] = ()  # the only depths the book endpoint takes, if fixed
    order_filter: str | None = None  # fetch_my_trades param naming one order's id

    def order_params(self, side: Side) -> dict[str, Any]:
        return {self.side_key: side.value} if self.side_key else {"hedged": True}

    def leverage_params(self, side: Side | None = None) -> dict[str, Any]:
        params: dict[str, Any] = ({"marginMode": "isolated"} if self.leverage_by_margin_mode
                                  else {})
        if side is not None:
            params[self.leverage_key] = side.value
        return params


DIALECTS = {
    # OKX: without marginMode ccxt sets and reads the *cross* leverage.
    "okx": Dialect(side_key="posSide", leverage_key="posSide", margin_key="posSide"),
    # Bitget: ccxt turns `hedged` into tradeSide Open/Close and flips a close's side;
    # leverage per side is `holdSide`, and its leverage read gives both isolated sides.
    # merge-depth takes the gears 1/5/15/50 only; order/fills filters by orderId.
    "bitget": Dialect(side_key=None, leverage_key="holdSide", margin_key="holdSide",
                      leverage_by_margin_mode=False, venue_profit_rate=False,
                      book_depths=(1, 5, 15, 50), order_filter="orderId"),
}
GENERIC = Dialect(side_key="positionSide", leverage_key="posSide", margin_key="posSide")


# -- structures -----------------------------------------------------------------------


def _step(value: Any, precision_mode: int) -> Decimal | None:
    number = dec(value)
    if number is None:
        return None
    if precision_mode == DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(number))
    if precision_mode == TICK_SIZE:
        return number
    raise ValueError("markets with significant-digit precision are not supported")


def instrument_from(market: Mapping[str, Any], precision_mode: int) -> Instrument | None:
    """A linear perpetual swap. ccxt amounts of contract markets are contracts of
    `contractSize` coin (OKX: ctVal; Bitget: 1, so contracts are coin), which is exactly
    our unit: the size step and minimum carry over unchanged."""
    if not market.get("swap") or not market.get("linear"):
        return None
    precision, limits = market.get("precision") or {}, market.get("limits") or {}
    lot = _step(precision.get("amount"), precision_mode)
    tick = _step(precision.get("price"), precision_mode)
    if lot is None or tick is None:
        return None
    minimum = dec((limits.get("amount") or {}).get("min")) or lot
    max_leverage = dec((limits.get("leverage") or {}).get("max")) or Decimal(100)
    return Instrument(symbol=str(market["symbol"]), base=str(market["base"]),
                      contract_value=dec(market.get("contractSize")) or Decimal(1),
                      lot_size=lot, min_size=minimum, tick_size=tick,
                      max_market_size=None, max_leverage=max_leverage,
                      quote=str(market.get("settle") or market.get("quote") or "USDT"))


def position_from(account: str, inst: Instrument, p: Mapping[str, Any], *,
                  venue_rate: bool = True) -> Position:
    margin = dec(p.get("positionMargin")) or dec(p.get("initialMargin")) or ZERO
    upl = dec0(p.get("unrealizedPnl"))
    percentage = dec(p.get("percentage")) if venue_rate else None
    return Position(
        account=account, instrument=inst, side=Side(str(p.get("side"))),
        size=abs(dec0(p.get("contracts"))), entry_price=dec0(p.get("entryPrice")),
        mark_price=dec0(p.get("markPrice")), margin=margin, leverage=dec0(p.get("leverage")),
        unrealized_pnl=upl,
        profit_rate=percentage if percentage is not None else profit_rate(upl, margin))


_REALIZED_KEYS = ("pnl", "fillPnl", "profit", "totalProfits", "realizedPnl", "closedPnl")


def _realized(info: Mapping[str, Any]) -> Decimal:
    return next((dec0(info[k]) for k in _REALIZED_KEYS if info.get(k) not in (None, "")), ZERO)


def _position_side(info: Mapping[str, Any], side: OrderSide, reduce_only: bool) -> Side:
    for key in ("posSide", "holdSide", "positionSide"):
        value = str(info.get(key) or "").lower()
        if value in ("long", "short"):
            return Side(value)
    # Not said: a buy opens a long or closes a short, a sell the other way round.
    if reduce_only:
        return Side.SHORT if side is OrderSide.BUY else Side.LONG
    return Side.LONG if side is OrderSide.BUY else Side.SHORT


def _bitget_hedge(info: Mapping[str, Any]) -> tuple[OrderSide, Side, bool] | None:
    """(trade side, position side, reduce-only) of a Bitget hedge-mode order or fill.
    There `side` names the position, not the trade: closing a long is `side=buy,
    tradeSide=close` (Bitget's place-order docs), in answers too. ccxt turns an order's
    side back into the trade's when `reduceOnly` is anything but "NO" (so a lower-case
    "no", as Bitget's docs show it, would flip an opening order too) and a fill's never;
    `tradeSide` says it either way. None for any other answer."""
    if info.get("posMode") != "hedge_mode":
        return None
    trade, held = str(info.get("tradeSide") or "").lower(), str(info.get("side") or "").lower()
    if trade not in ("open", "close") or held not in ("buy", "sell"):
        return None
    position = Side.LONG if held == "buy" else Side.SHORT
    if trade == "open":
        return position.open_order_side, position, False
    return position.close_order_side, position, True


def _sides(record: Mapping[str, Any], info: Mapping[str, Any]) -> tuple[OrderSide, Side, bool]:
    """(trade side, position side, reduce-only) of a ccxt order or trade."""
    hedge = _bitget_hedge(info)
    if hedge is not None:
        return hedge
    side = OrderSide(str(record.get("side")))
    reduce_only = bool(record.get("reduceOnly"))
    return side, _position_side(info, side, reduce_only), reduce_only


def order_from(o: Mapping[str, Any]) -> Order:
    info = o.get("info") or {}
    side, position_side, reduce_only = _sides(o, info)
    filled = dec0(o.get("filled"))
    status = str(o.get("status"))
    state = STATES.get(status) or (OrderState.PARTIALLY_FILLED if filled > 0
                                   else OrderState.LIVE)
    order_type = OrderType.MARKET if o.get("type") == "market" else OrderType.LIMIT
    tif = (TimeInForce.IOC if o.get("timeInForce") in ("IOC", "FOK")
           or order_type is OrderType.MARKET else TimeInForce.GTC)
    fee = (o.get("fee") or {}).get("cost")
    return Order(
        client_id=str(o.get("clientOrderId") or ""), venue_id=str(o.get("id") or ""),
        symbol=str(o.get("symbol")), side=side, position_side=position_side, type=order_type,
        size=dec0(o.get("amount")), price=dec(o.get("price")), reduce_only=reduce_only,
        time_in_force=tif, expire_at=None, state=state, filled_size=filled,
        average_price=dec(o.get("average")) if filled > 0 else None,
        fee=dec0(fee),  # ccxt's fee cost is positive when paid, like ours
        realized_pnl=_realized(info), created_at=when(o.get("timestamp")),
        updated_at=when(o.get("lastUpdateTimestamp")))


def fill_from(t: Mapping[str, Any], client_id: str) -> Fill:
    info = t.get("info") or {}
    side, position_side, _ = _sides(t, info)
    return Fill(
        trade_id=str(t.get("id") or ""), order_venue_id=str(t.get("order") or ""),
        client_id=str(info.get("clOrdId") or info.get("clientOid") or client_id),
        symbol=str(t.get("symbol")), side=side, position_side=position_side,
        size=dec0(t.get("amount")), price=dec0(t.get("price")),
        fee=dec0((t.get("fee") or {}).get("cost")), realized_pnl=_realized(info),
        liquidity=Liquidity.MAKER if t.get("takerOrMaker") == "maker" else Liquidity.TAKER,
        time=when(t.get("timestamp")) or datetime.now(UTC))

