"""OKX v5 answers to our domain types and errors, and our order requests to OKX bodies.

Pure functions, no I/O: the OKX adapter calls the SDK and hands the answers here. OKX
sends every number as a string and `""` for a missing one; sizes are contracts; a fee
is negative when paid (we flip it); `uplRatio` is a fraction (we give percent).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
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
    OrderRequest,
    OrderSide,
    OrderState,
    OrderType,
    Position,
    Side,
    TimeInForce,
)
from bot.sizing import HUNDRED, profit_rate
from bot.venues.base import VenueError
from bot.venues.okx.codes import okx_error

VENUE = "okx"
Row = Mapping[str, Any]

STATES: dict[str, OrderState] = {
    "live": OrderState.LIVE,
    "partially_filled": OrderState.PARTIALLY_FILLED,
    "filled": OrderState.FILLED,
    "canceled": OrderState.CANCELED,  # may carry a partial fill (accFillSz > 0)
    "mmp_canceled": OrderState.CANCELED,  # market-maker protection cancelled it
    "order_failed": OrderState.REJECTED,
}
ORDER_TYPES: dict[str, tuple[OrderType, TimeInForce]] = {
    "market": (OrderType.MARKET, TimeInForce.IOC),
    "optimal_limit_ioc": (OrderType.MARKET, TimeInForce.IOC),
    "limit": (OrderType.LIMIT, TimeInForce.GTC),
    "post_only": (OrderType.LIMIT, TimeInForce.GTC),
    "ioc": (OrderType.LIMIT, TimeInForce.IOC),
    "fok": (OrderType.LIMIT, TimeInForce.IOC),
}
# OKX has no good-till-time for ordinary orders: a GTT close is sent as a plain limit
# order (the executor cancels it when its time is up) and its expiry rides in the
# order's `tag` (<= 16 letters and digits), so a restarted bot still knows it.
GTT_TAG_PREFIX = "gtt"


# -- numbers --------------------------------------------------------------------------


def dec(value: Any) -> Decimal | None:
    """OKX's string number as a Decimal; `""`/None (OKX's "missing") as None."""
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise VenueError(f"not a number in OKX's answer: {str(value)[:40]!r}",
                         venue=VENUE) from None
    if not number.is_finite():
        raise VenueError(f"not a finite number in OKX's answer: {value!r}", venue=VENUE)
    return number


def dec0(value: Any) -> Decimal:
    number = dec(value)
    return ZERO if number is None else number


def text(number: Decimal) -> str:
    """A Decimal as OKX wants it: plain digits, no exponent, no trailing zeros."""
    return format(number.normalize(), "f")


def when(ms: Any) -> datetime | None:
    number = dec(ms)
    return datetime.fromtimestamp(int(number) / 1000, UTC) if number is not None else None


# -- the envelope ---------------------------------------------------------------------


def data_of(answer: Any) -> list[dict[str, Any]]:
    """`data` of a successful answer; a failed one (top-level code, or an item's sCode
    when the top level says "1"/"2") raises the mapped taxonomy error."""
    if not isinstance(answer, Mapping):
        raise VenueError("OKX answered something that is not a JSON object", venue=VENUE)
    code = str(answer.get("code", ""))
    data = answer.get("data") or []
    if code == "0":
        return list(data)
    if code in ("1", "2"):
        for item in data:
            s_code = str(item.get("sCode", "0"))
            if s_code not in ("", "0"):
                raise okx_error(s_code, item.get("sMsg") or None, venue=VENUE)
    raise okx_error(code or "unknown", answer.get("msg") or None, venue=VENUE)


# -- reads ----------------------------------------------------------------------------


def instrument_from(row: Row) -> Instrument | None:
    """A linear USDT-style swap, or None for what the bot does not trade (inverse swaps:
    their sizes and margins are in coin, which nothing downstream expects)."""
    if row.get("instType") != "SWAP" or row.get("ctType") != "linear":
        return None
    inst_id = str(row["instId"])
    base = str(row.get("ctValCcy") or inst_id.split("-")[0])
    max_lever = dec(row.get("lever"))
    return Instrument(
        symbol=inst_id, base=base, contract_value=dec0(row.get("ctVal")),
        lot_size=dec0(row.get("lotSz")), min_size=dec0(row.get("minSz")),
        tick_size=dec0(row.get("tickSz")), max_market_size=dec(row.get("maxMktSz")),
        max_leverage=max_lever if max_lever is not None else Decimal(100),
        quote=str(row.get("settleCcy") or "USDT"))


def position_side(row: Row) -> Side:
    pos_side = row.get("posSide")
    if pos_side in ("long", "short"):
        return Side(pos_side)
    # Net mode (not how the bot runs an account, but read correctly): the sign decides.
    return Side.SHORT if dec0(row.get("pos")) < 0 else Side.LONG


def position_from(account: str, inst: Instrument, row: Row) -> Position:
    margin = dec(row.get("margin"))
    if margin is None:  # cross positions have `imr` instead of an isolated margin
        margin = dec0(row.get("imr"))
    upl = dec0(row.get("upl"))
    ratio = dec(row.get("uplRatio"))
    return Position(
        account=account, instrument=inst, side=position_side(row),
        size=abs(dec0(row.get("pos"))), entry_price=dec0(row.get("avgPx")),
        mark_price=dec0(row.get("markPx")), margin=margin,
        leverage=dec0(row.get("lever")), unrealized_pnl=upl,
        profit_rate=ratio * HUNDRED if ratio is not None else profit_rate(upl, margin))


def balance_from(rows: list[dict[str, Any]], currency: str = "USDT") -> Balance:
    details = rows[0].get("details", []) if rows else []
    for detail in details:
        if detail.get("ccy") == currency:
            free = dec(detail.get("availBal"))
            return Balance(currency=currency, equity=dec0(detail.get("eq")),
                           free=free if free is not None else dec0(detail.get("availEq")))
    return Balance(currency=currency, equity=ZERO, free=ZERO)


def book_from(symbol: str, rows: list[dict[str, Any]]) -> OrderBook:
    first = rows[0] if rows else {}

    def levels(key: str) -> tuple[BookLevel, ...]:
        return tuple(BookLevel(dec0(level[0]), dec0(level[1])) for level in first.get(key, []))

    return OrderBook(symbol=symbol, bids=levels("bids"), asks=levels("asks"),
                     time=when(first.get("ts")))


def candles_from(rows: list[Any]) -> list[Candle]:
    """OKX's candle rows (`[ts, o, h, l, c, vol, ...]`, newest first), oldest first."""
    candles = []
    for row in reversed(rows):
        moment = when(row[0])
        if moment is None:
            raise VenueError("a candle without its time in OKX's answer", venue=VENUE)
        candles.append(Candle(moment, dec0(row[1]), dec0(row[2]), dec0(row[3]), dec0(row[4])))
    return candles


def gtt_tag(expire_at: datetime) -> str:
    return f"{GTT_TAG_PREFIX}{int(expire_at.timestamp())}"


def expiry_from_tag(tag: Any) -> datetime | None:
    tag = str(tag or "")
    if not tag.startswith(GTT_TAG_PREFIX) or not tag[len(GTT_TAG_PREFIX):].isdigit():
        return None
    return datetime.fromtimestamp(int(tag[len(GTT_TAG_PREFIX):]), UTC)


def order_from(row: Row) -> Order:
    order_type, tif = ORDER_TYPES.get(str(row.get("ordType")),
                                      (OrderType.LIMIT, TimeInForce.GTC))
    expire_at = expiry_from_tag(row.get("tag"))
    if expire_at is not None and tif is TimeInForce.GTC:
        tif = TimeInForce.GTT
    filled = dec0(row.get("accFillSz"))
    average = dec(row.get("avgPx"))
    fee = dec0(row.get("fee"))
    return Order(
        client_id=str(row.get("clOrdId") or ""), venue_id=str(row.get("ordId") or ""),
        symbol=str(row.get("instId")), side=OrderSide(str(row.get("side"))),
        position_side=position_side(row), type=order_type, size=dec0(row.get("sz")),
        price=dec(row.get("px")), reduce_only=str(row.get("reduceOnly")).lower() == "true",
        time_in_force=tif, expire_at=expire_at,
        # An unknown state is followed as open rather than taken as a final answer.
        state=STATES.get(str(row.get("state")), OrderState.LIVE),
        filled_size=filled, average_price=average if filled > 0 and average else None,
        fee=-fee, realized_pnl=dec0(row.get("pnl")),
        created_at=when(row.get("cTime")), updated_at=when(row.get("uTime")))


def fill_from(row: Row) -> Fill:
    return Fill(
        trade_id=str(row.get("tradeId") or row.get("billId") or ""),
        order_venue_id=str(row.get("ordId") or ""), client_id=str(row.get("clOrdId") or ""),
        symbol=str(row.get("instId")), side=OrderSide(str(row.get("side"))),
        position_side=position_side(row), size=dec0(row.get("fillSz")),
        price=dec0(row.get("fillPx")), fee=-dec0(row.get("fee")),
        realized_pnl=dec0(row.get("fillPnl")),
        liquidity=Liquidity.MAKER if row.get("execType") == "M" else Liquidity.TAKER,
        time=when(row.get("fillTime") or row.get("ts")) or datetime.now(UTC))


# -- writes ---------------------------------------------------------------------------


def order_body(req: OrderRequest) -> dict[str, Any]:
    """The keyword arguments of python-okx's `place_order` for one of our requests."""
    body: dict[str, Any] = {
        "instId": req.symbol, "tdMode": "isolated", "side": req.side.value,
        "posSide": req.position_side.value, "sz": text(req.size), "clOrdId": req.client_id,
    }
    if req.type is OrderType.MARKET:
        if req.price is None:
            body["ordType"] = "market"
        else:
            # OKX market orders take no price; an IOC limit at the worst acceptable
            # price is the market order that never fills beyond it (SPEC §7).
            body.update(ordType="ioc", px=text(req.price))
    else:
        if req.price is None:
            raise VenueError("a limit order needs a price", code="51000", venue=VENUE)
        body.update(ordType="ioc" if req.time_in_force is TimeInForce.IOC else "limit",
                    px=text(req.price))
        if req.time_in_force is TimeInForce.GTT and req.expire_at is not None:
            body["tag"] = gtt_tag(req.expire_at)
    if req.reduce_only:
        body["reduceOnly"] = True
    return body
