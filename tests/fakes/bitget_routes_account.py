"""Public market data, account and position endpoints of the fake Bitget server.

Routes take the request context and return `data` (or raise a `BitgetFault`); an
engine error becomes Bitget's error envelope in the server. Only USDT-FUTURES lists
anything: the other product types (and spot) answer empty lists, which is what
ccxt's `load_markets` needs to hear about them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.domain import ZERO, Side
from bot.venues.base import InsufficientMargin
from tests.fakes import bitget_render as render
from tests.fakes.bitget_wire import (
    HEDGE,
    ONE_WAY,
    BitgetFault,
    Ctx,
    market_id,
    missing,
    ms,
    num,
    param_error,
)

Handler = Callable[[Ctx], Awaitable[Any]]
Routes = dict[tuple[str, str], tuple[Handler, bool]]  # (method, path) -> (handler, private)
DEPTH_GEARS = {"1": 1, "5": 5, "15": 15, "50": 50, "max": 150}  # merge-depth's `limit`
DEFAULT_DEPTH = 100
CANDLE_BARS = {"1m": "1m", "5m": "5m", "15m": "15m", "1H": "1h"}  # granularity -> the engine's
DEFAULT_CANDLES = 100


# -- public ---------------------------------------------------------------------------


async def server_time(ctx: Ctx) -> Any:
    return {"serverTime": ms(ctx.exchange.clock())}


async def spot_coins(ctx: Ctx) -> Any:
    return []  # the paper venue has no spot side


async def contracts(ctx: Ctx) -> Any:
    if not ctx.usdt_futures():
        return []
    wanted = ctx.instrument() if ctx.get("symbol") else None
    ex, minimum = ctx.exchange, ctx.state.min_trade_usdt
    return [render.contract_row(i, ex.fees, minimum) for i in ctx.markets.values()
            if wanted in (None, i)]


async def ticker(ctx: Ctx) -> Any:
    return [render.ticker_row(ctx.exchange, ctx.instrument())]


async def tickers(ctx: Ctx) -> Any:
    if not ctx.usdt_futures():
        return []
    return [render.ticker_row(ctx.exchange, i) for i in ctx.markets.values()]


async def symbol_price(ctx: Ctx) -> Any:
    return [render.symbol_price_row(ctx.exchange, ctx.instrument())]


async def merge_depth(ctx: Ctx) -> Any:
    inst = ctx.instrument()
    limit = ctx.get("limit")
    if limit is not None and limit not in DEPTH_GEARS:
        raise param_error("limit")  # a fixed gear, says Bitget: 1/5/15/50/max
    levels = DEPTH_GEARS[limit] if limit is not None else DEFAULT_DEPTH
    return render.depth(ctx.exchange.order_book(inst.symbol, levels), inst)


async def candles(ctx: Ctx) -> Any:
    """The paper engine's candles as Bitget sends them: oldest first, `[ts, open, high,
    low, close, base volume, quote volume]`. startTime/endTime are not served: ccxt sends
    them only for a `since`, which nothing here asks for."""
    inst = ctx.instrument()
    bar = CANDLE_BARS.get(ctx.need("granularity"))
    if bar is None:
        raise param_error("granularity")
    limit = ctx.number("limit")
    if limit is not None and (limit != limit.to_integral_value() or not 0 < limit <= 1000):
        raise param_error("limit")
    return [[ms(c.time), num(c.open), num(c.high), num(c.low), num(c.close), "0", "0"]
            for c in ctx.exchange.candles(inst.symbol, bar, int(limit or DEFAULT_CANDLES))]


async def uta_settings(ctx: Ctx) -> Any:
    # ccxt asks once whether the key is a unified trading account: a classic one is not.
    raise BitgetFault("40084")


# -- account --------------------------------------------------------------------------


async def accounts(ctx: Ctx) -> Any:
    if not ctx.usdt_futures():
        return []
    return [render.account_row(ctx.exchange, ctx.user, ctx.pos_mode, None)]


async def account(ctx: Ctx) -> Any:
    inst = ctx.instrument()
    ctx.margin_coin()
    return render.account_row(ctx.exchange, ctx.user, ctx.pos_mode, inst)


def _hold_side(ctx: Ctx) -> Side | None:
    value = ctx.get("holdSide")
    if value is None:
        return None
    if value not in ("long", "short"):
        raise param_error("holdSide")
    return Side(value)


async def set_leverage(ctx: Ctx) -> Any:
    inst = ctx.instrument()
    ctx.margin_coin()
    lever = ctx.number("leverage", required=True)
    assert lever is not None
    side = _hold_side(ctx)
    if side is None and ctx.pos_mode == HEDGE:
        raise missing("holdSide")  # required for isolated margin in hedge mode
    acct = ctx.exchange.account(ctx.user)
    for each in [side] if side else [Side.LONG, Side.SHORT]:
        ctx.exchange.set_leverage(ctx.user, inst.symbol, each, lever)
    return {"symbol": market_id(inst), "marginCoin": "USDT",
            "longLeverage": num(acct.leverage_for(inst.symbol, Side.LONG)),
            "shortLeverage": num(acct.leverage_for(inst.symbol, Side.SHORT)),
            "crossMarginLeverage": "10", "marginMode": "isolated"}


async def set_margin(ctx: Ctx) -> Any:
    inst = ctx.instrument()
    ctx.margin_coin()
    side = _hold_side(ctx)
    if side is None:
        raise missing("holdSide")
    amount = ctx.number("amount", required=True)  # negative takes margin out
    assert amount is not None
    if amount == 0:
        raise param_error("amount")
    try:
        ctx.exchange.change_margin(ctx.user, inst.symbol, side, amount)
    except InsufficientMargin:
        raise BitgetFault("43012") from None  # the account balance, not an order's cost
    return ""


async def set_position_mode(ctx: Ctx) -> Any:
    ctx.usdt_futures()
    mode = ctx.need("posMode")
    if mode not in (HEDGE, ONE_WAY):
        raise param_error("posMode")
    ctx.state.pos_modes[ctx.user] = mode
    return {"posMode": mode}


# -- positions ------------------------------------------------------------------------


def _position_rows(ctx: Ctx, symbol: str | None) -> list[dict[str, Any]]:
    ex, now, rows = ctx.exchange, ctx.exchange.clock(), []
    for p in ex.positions(ctx.user):
        if symbol not in (None, p.symbol):
            continue
        orders = [o for o in ex.open_orders(ctx.user, p.symbol) if o.position_side is p.side]
        opening = sum((o.unfilled_size for o in orders if o.side is p.side.open_order_side),
                      ZERO)
        closing = sum((o.unfilled_size for o in orders if o.side is not p.side.open_order_side),
                      ZERO)
        rows.append(render.position_row(p, pending_open=opening, pending_close=closing,
                                        pos_mode=ctx.pos_mode, now=now))
    return rows


async def all_position(ctx: Ctx) -> Any:
    if not ctx.usdt_futures():
        return []
    ctx.margin_coin()
    return _position_rows(ctx, None)


async def single_position(ctx: Ctx) -> Any:
    inst = ctx.instrument()
    ctx.margin_coin()
    return _position_rows(ctx, inst.symbol)


ROUTES: Routes = {
    ("GET", "/api/v2/public/time"): (server_time, False),
    ("GET", "/api/v2/spot/public/coins"): (spot_coins, False),
    ("GET", "/api/v2/mix/market/contracts"): (contracts, False),
    ("GET", "/api/v2/mix/market/ticker"): (ticker, False),
    ("GET", "/api/v2/mix/market/tickers"): (tickers, False),
    ("GET", "/api/v2/mix/market/symbol-price"): (symbol_price, False),
    ("GET", "/api/v2/mix/market/merge-depth"): (merge_depth, False),
    ("GET", "/api/v2/mix/market/candles"): (candles, False),
    ("GET", "/api/v3/account/settings"): (uta_settings, True),
    ("GET", "/api/v2/mix/account/accounts"): (accounts, True),
    ("GET", "/api/v2/mix/account/account"): (account, True),
    ("POST", "/api/v2/mix/account/set-leverage"): (set_leverage, True),
    ("POST", "/api/v2/mix/account/set-margin"): (set_margin, True),
    ("POST", "/api/v2/mix/account/set-position-mode"): (set_position_mode, True),
    ("GET", "/api/v2/mix/position/all-position"): (all_position, True),
    ("GET", "/api/v2/mix/position/single-position"): (single_position, True),
}
