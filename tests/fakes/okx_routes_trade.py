"""Trade endpoints of the fake OKX server: place (single and batch), order details,
cancel, pending orders and fills.

Placement answers per order (`sCode`/`sMsg`, top-level "1" when all failed). OKX
refuses a clOrdId that a *pending* order already uses (51016); the paper engine keeps
one order per client id, so resending the id of a finished order is answered with that
order (real OKX would place a second one: the adapters must not rely on either).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from bot.domain import Liquidity, Order, OrderRequest, OrderSide, OrderType, TimeInForce
from bot.venues.base import VenueError
from bot.venues.okx.codes import okx_error
from tests.fakes import okx_render as render
from tests.fakes.okx_routes_account import Routes
from tests.fakes.okx_wire import Answer, Ctx, item_error, items_answer, missing, ms, param_error

_CLIENT_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
MAX_BATCH = 20
MAX_PAGE = 100
# OKX order types -> (our type, time in force). `fok` is served as `ioc` (the paper
# venue has no fill-or-kill); `post_only` as a plain limit order.
ORDER_TYPES = {"market": (OrderType.MARKET, TimeInForce.IOC),
               "optimal_limit_ioc": (OrderType.MARKET, TimeInForce.IOC),
               "limit": (OrderType.LIMIT, TimeInForce.GTC),
               "post_only": (OrderType.LIMIT, TimeInForce.GTC),
               "ioc": (OrderType.LIMIT, TimeInForce.IOC),
               "fok": (OrderType.LIMIT, TimeInForce.IOC)}


def _request(ctx: Ctx, item: dict[str, Any], client_id: str) -> OrderRequest:
    symbol = ctx.need("instId", item)
    ctx.exchange.instrument(symbol)
    if ctx.need("tdMode", item) != "isolated":
        raise okx_error("51010", "Only isolated margin is available on this paper account")
    side = ctx.need("side", item)
    if side not in ("buy", "sell"):
        raise param_error("side")
    position_side = ctx.side(source=item)
    kind = ORDER_TYPES.get(ctx.need("ordType", item))
    if kind is None:
        raise param_error("ordType")
    size = ctx.number("sz", required=True, source=item)
    assert size is not None
    price = None
    if kind[0] is OrderType.LIMIT:
        price = ctx.number("px", source=item)
        if price is None:
            raise missing("px")
    reduce_only = str(item.get("reduceOnly", "")).lower() == "true"
    return OrderRequest(client_id, symbol, OrderSide(side), position_side, kind[0], size,
                        price, reduce_only=reduce_only, time_in_force=kind[1])


def _place(ctx: Ctx, item: dict[str, Any]) -> tuple[dict[str, Any], Order | None]:
    client_id, tag = item.get("clOrdId", ""), item.get("tag", "")
    ids = {"ordId": "", "clOrdId": client_id, "tag": tag, "ts": ms(ctx.exchange.clock())}
    try:
        if client_id and not _CLIENT_ID.match(client_id):
            raise param_error("clOrdId")
        if not client_id:  # the engine needs one; OKX does not: make one up, show none
            client_id = f"okxsrv{ctx.exchange.next_id}"
            ctx.notes.anonymous.add((ctx.user, client_id))
        request = _request(ctx, item, client_id)
        known = ctx.exchange.client_ids.get((ctx.user, client_id))
        if known is not None and not ctx.exchange.orders[known].state.is_final:
            raise okx_error("51016")
        order = ctx.exchange.place_order(ctx.user, request)
    except VenueError as exc:
        return item_error(exc, **ids), None
    ctx.notes.tags.setdefault((ctx.user, order.venue_id), tag)
    return {**ids, "ordId": order.venue_id, "sCode": "0", "sMsg": "Order placed"}, order


async def _answer_unless_timed_out(ctx: Ctx, placed: list[Order | None], answer: Answer
                                   ) -> Answer:
    if any(placed) and ctx.exchange.faults.take_timeout(ctx.user):
        assert ctx.hang is not None
        await ctx.hang()  # placed, but the caller never hears back
    return answer


async def place_order(ctx: Ctx) -> Answer:
    result, order = _place(ctx, ctx.fields)
    return await _answer_unless_timed_out(ctx, [order], items_answer([result]))


async def batch_orders(ctx: Ctx) -> Answer:
    if not ctx.items:
        raise missing("orders")
    if len(ctx.items) > MAX_BATCH:
        raise okx_error("51111")
    results = [_place(ctx, item) for item in ctx.items]
    return await _answer_unless_timed_out(ctx, [o for _, o in results],
                                          items_answer([r for r, _ in results]))


def _order_row(ctx: Ctx, order: Order) -> dict[str, Any]:
    fills = ctx.exchange.account_fills(ctx.user, venue_id=order.venue_id)
    lever = ctx.exchange.accounts[ctx.user].leverage_for(order.symbol, order.position_side)
    return render.order_row(order, fills, tag=ctx.notes.tags.get((ctx.user, order.venue_id), ""),
                            client_id=ctx.notes.client_id(ctx.user, order.client_id),
                            leverage=lever)


def _find(ctx: Ctx) -> Order:
    symbol = ctx.need("instId")
    venue_id, client_id = ctx.get("ordId"), ctx.get("clOrdId")
    if venue_id is None and client_id is None:
        raise okx_error("51003")
    order = ctx.exchange.get_order(ctx.user, venue_id=venue_id, client_id=client_id)
    if order.symbol != symbol:
        raise okx_error("51603")
    return order


async def get_order(ctx: Ctx) -> list[Any]:
    return [_order_row(ctx, _find(ctx))]


async def cancel_order(ctx: Ctx) -> Answer:
    ids = {"ordId": ctx.get("ordId") or "", "clOrdId": ctx.get("clOrdId") or "",
           "ts": ms(ctx.exchange.clock())}
    try:
        order = _find(ctx)
        ctx.exchange.cancel_order(ctx.user, venue_id=order.venue_id)
    except VenueError as exc:
        if exc.code == "51603":  # cancelling a missing order is a cancel failure
            exc = okx_error("51400")
        return items_answer([item_error(exc, **ids)])
    return items_answer([{**ids, "ordId": order.venue_id,
                          "clOrdId": ctx.notes.client_id(ctx.user, order.client_id),
                          "sCode": "0", "sMsg": ""}])


async def orders_pending(ctx: Ctx) -> list[Any]:
    if ctx.get("instType") not in (None, "SWAP"):
        return []
    return [_order_row(ctx, o) for o in ctx.exchange.open_orders(ctx.user, ctx.get("instId"))]


def _page(ctx: Ctx, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Newest first; `after` gives older bills than that billId, `before` newer ones."""
    after, before = ctx.number("after"), ctx.number("before")
    limit = ctx.number("limit") or Decimal(MAX_PAGE)
    if limit != limit.to_integral_value() or not 0 < limit <= MAX_PAGE:
        raise param_error("limit")
    rows = [r for r in rows if (after is None or Decimal(r["billId"]) < after)
            and (before is None or Decimal(r["billId"]) > before)]
    return rows[: int(limit)]


async def fills(ctx: Ctx) -> list[Any]:
    if ctx.get("instType") not in (None, "SWAP"):
        return []
    symbol, venue_id = ctx.get("instId"), ctx.get("ordId")
    rates = ctx.exchange.fees
    rows = [render.fill_row(f, n, rates.maker if f.liquidity is Liquidity.MAKER else rates.taker)
            for n, f in enumerate(ctx.exchange.account_fills(ctx.user), start=1)
            if symbol in (None, f.symbol) and venue_id in (None, f.order_venue_id)]
    for row in rows:
        row["clOrdId"] = ctx.notes.client_id(ctx.user, row["clOrdId"])
    return _page(ctx, list(reversed(rows)))


async def fills_history(ctx: Ctx) -> list[Any]:
    ctx.need("instType")
    return await fills(ctx)


ROUTES: Routes = {
    ("POST", "/api/v5/trade/order"): (place_order, True),
    ("POST", "/api/v5/trade/batch-orders"): (batch_orders, True),
    ("GET", "/api/v5/trade/order"): (get_order, True),
    ("POST", "/api/v5/trade/cancel-order"): (cancel_order, True),
    ("GET", "/api/v5/trade/orders-pending"): (orders_pending, True),
    ("GET", "/api/v5/trade/fills"): (fills, True),
    ("GET", "/api/v5/trade/fills-history"): (fills_history, True),
}
