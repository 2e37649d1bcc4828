"""Trade endpoints of the fake Bitget server: place, order detail, cancel, pending orders
and fills.

Position modes: in hedge mode an order must say `tradeSide` open or close, and its
`side` names the position (closing a long is `side=buy, tradeSide=close`); in one-way
mode `side` is the trade and `reduceOnly=YES` marks a close. An order shaped for the
other mode is refused with 40774 (what users of ccxt met sending tradeSide to a one-way
account, though the docs say it is ignored there; the reverse is assumed the same).
One-way netting of an opposite position is not simulated: the engine holds long and
short apart.

Unlike the OKX fake, a clientOid the account has used before is refused (40786) even
when that order is finished: Bitget keeps client ids unique per account.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from bot.domain import Fill, Order, OrderRequest, OrderSide, OrderType, Side, TimeInForce
from bot.venues.base import OrderUnknown
from tests.fakes import bitget_render as render
from tests.fakes.bitget_routes_account import Routes
from tests.fakes.bitget_wire import (
    HEDGE,
    BitgetFault,
    Ctx,
    client_oid,
    contracts,
    engine_order_id,
    missing,
    num,
    param_error,
)

_CLIENT_OID = re.compile(r"^[\x21-\x7e]{1,50}$")  # printable ASCII, at most 50
MAX_PAGE = 100
FORCES = {"gtc": TimeInForce.GTC, "post_only": TimeInForce.GTC,  # post-only rests as GTC
          "ioc": TimeInForce.IOC, "fok": TimeInForce.IOC}  # and FOK is served as IOC


def _sides(ctx: Ctx, side: OrderSide) -> tuple[OrderSide, Side, bool]:
    """(trade side, position side, closes) of an order in the account's position mode."""
    trade_side = (ctx.get("tradeSide") or "").lower()
    if ctx.pos_mode == HEDGE:
        if trade_side not in ("open", "close"):
            raise BitgetFault("40774")
        held = Side.LONG if side is OrderSide.BUY else Side.SHORT
        closes = trade_side == "close"
        if not closes:
            return side, held, False
        return held.close_order_side, held, True
    if trade_side:
        raise BitgetFault("40774")
    closes = (ctx.get("reduceOnly") or "NO").upper() == "YES"
    opened = Side.LONG if side is OrderSide.BUY else Side.SHORT
    held = (Side.SHORT if opened is Side.LONG else Side.LONG) if closes else opened
    return side, held, closes


def _request(ctx: Ctx) -> OrderRequest:
    inst = ctx.instrument()
    ctx.margin_coin()
    if ctx.need("marginMode") != "isolated":
        raise BitgetFault("40017", "Only isolated margin is available on this paper account")
    side = ctx.need("side").lower()
    kind = ctx.need("orderType").lower()
    force = (ctx.get("force") or "gtc").lower()
    if side not in ("buy", "sell"):
        raise param_error("side")
    if kind not in ("limit", "market"):
        raise param_error("orderType")
    if force not in FORCES:
        raise param_error("force")
    size_coin = ctx.number("size", required=True)
    assert size_coin is not None
    size = contracts(size_coin, inst)
    price = ctx.number("price") if kind == "limit" else None
    if kind == "limit" and price is None:
        raise missing("price")
    if price is not None and (price <= 0 or price % inst.tick_size != 0):
        raise BitgetFault("41103")
    trade, held, closes = _sides(ctx, OrderSide(side))
    client_id = ctx.get("clientOid") or client_oid(ctx.exchange.next_id)
    if not _CLIENT_OID.match(client_id):
        raise BitgetFault("40305")
    if (ctx.user, client_id) in ctx.exchange.client_ids:
        raise BitgetFault("40786")
    minimum = ctx.state.min_trade_usdt
    if not closes and size_coin * (price or ctx.exchange.market.mark(inst.symbol)) < minimum:
        raise BitgetFault("45110", f"less than the minimum amount {num(minimum)} USDT")
    tif = TimeInForce.IOC if kind == "market" else FORCES[force]
    return OrderRequest(client_id, inst.symbol, trade, held, OrderType(kind), size, price,
                        reduce_only=closes, time_in_force=tif)


async def place_order(ctx: Ctx) -> Any:
    order = ctx.exchange.place_order(ctx.user, _request(ctx))
    if ctx.exchange.faults.take_timeout(ctx.user):
        assert ctx.hang is not None
        await ctx.hang()  # placed, but the caller never hears back
    return render.placed(order)


def _find(ctx: Ctx, not_found: str) -> Order:
    """The order named by orderId (which wins) or clientOid, in the request's symbol."""
    inst = ctx.instrument()
    given, client_id = ctx.get("orderId"), ctx.get("clientOid")
    if given is None and client_id is None:
        raise missing("orderId")
    venue_id = engine_order_id(given) if given is not None else None
    if given is not None and venue_id is None:
        raise BitgetFault(not_found)  # not an id this server ever gave
    try:
        order = ctx.exchange.get_order(ctx.user, venue_id=venue_id,
                                       client_id=None if venue_id else client_id)
    except OrderUnknown:
        raise BitgetFault(not_found) from None
    if order.symbol != inst.symbol:
        raise BitgetFault(not_found)
    return order


def _row(ctx: Ctx, order: Order, *, open_orders: bool = False) -> dict[str, Any]:
    inst = ctx.exchange.instruments[order.symbol]
    lever = ctx.exchange.accounts[ctx.user].leverage_for(order.symbol, order.position_side)
    return render.order_row(order, inst, pos_mode=ctx.pos_mode, leverage=lever,
                            open_orders=open_orders)


async def order_detail(ctx: Ctx) -> Any:
    return _row(ctx, _find(ctx, "40109"))


async def cancel_order(ctx: Ctx) -> Any:
    order = _find(ctx, "40768")
    try:
        ctx.exchange.cancel_order(ctx.user, venue_id=order.venue_id)
    except OrderUnknown:  # finished already: nothing to cancel
        raise BitgetFault("40768") from None
    return render.placed(order)


def _page(ctx: Ctx, rows: list[dict[str, Any]], id_key: str) -> list[dict[str, Any]]:
    """Newest first; `idLessThan` gives older rows than that id, times bound `cTime`."""
    older_than = ctx.number("idLessThan")
    start, end = ctx.number("startTime"), ctx.number("endTime")
    limit = ctx.number("limit") or Decimal(MAX_PAGE)
    if limit != limit.to_integral_value() or not 0 < limit <= MAX_PAGE:
        raise param_error("limit")
    rows = [r for r in rows if (older_than is None or Decimal(r[id_key]) < older_than)
            and (start is None or Decimal(r["cTime"]) >= start)
            and (end is None or Decimal(r["cTime"]) <= end)]
    return rows[: int(limit)]


async def orders_pending(ctx: Ctx) -> Any:
    symbol = ctx.instrument().symbol if ctx.get("symbol") else None
    if not ctx.usdt_futures():
        return {"entrustedList": None, "endId": None}
    status, given, client_id = ctx.get("status"), ctx.get("orderId"), ctx.get("clientOid")
    rows = [_row(ctx, o, open_orders=True)
            for o in reversed(ctx.exchange.open_orders(ctx.user, symbol))]
    rows = [r for r in rows if status in (None, r["status"]) and given in (None, r["orderId"])
            and client_id in (None, r["clientOid"])]
    page = _page(ctx, rows, "orderId")
    # Bitget answers null, not [], when nothing is pending.
    return {"entrustedList": page or None, "endId": page[-1]["orderId"] if page else None}


def _fill_row(ctx: Ctx, fill: Fill, serial: int) -> dict[str, Any]:
    inst = ctx.exchange.instruments[fill.symbol]
    opens = ctx.exchange.orders[fill.order_venue_id].opens
    return render.fill_row(fill, serial, inst, pos_mode=ctx.pos_mode, opens=opens)


async def fills(ctx: Ctx) -> Any:
    symbol = ctx.instrument().symbol if ctx.get("symbol") else None
    if not ctx.usdt_futures():
        return {"fillList": None, "endId": None}
    given = ctx.get("orderId")
    venue_id = engine_order_id(given) if given is not None else None
    rows = [_fill_row(ctx, f, n)
            for n, f in enumerate(ctx.exchange.account_fills(ctx.user), start=1)
            if symbol in (None, f.symbol) and (given is None or f.order_venue_id == venue_id)]
    page = _page(ctx, list(reversed(rows)), "tradeId")
    return {"fillList": page or None, "endId": page[-1]["tradeId"] if page else None}


ROUTES: Routes = {
    ("POST", "/api/v2/mix/order/place-order"): (place_order, True),
    ("GET", "/api/v2/mix/order/detail"): (order_detail, True),
    ("POST", "/api/v2/mix/order/cancel-order"): (cancel_order, True),
    ("GET", "/api/v2/mix/order/orders-pending"): (orders_pending, True),
    ("GET", "/api/v2/mix/order/fills"): (fills, True),
    ("GET", "/api/v2/mix/order/fill-history"): (fills, True),
}
