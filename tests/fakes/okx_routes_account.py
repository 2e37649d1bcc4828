"""Public market data and account endpoints of the fake OKX server.

Routes take the request context and return `data` (or an `Answer`); an engine error
(an OKX-coded `VenueError`) becomes OKX's error envelope in the server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.domain import ZERO, Side
from bot.venues.okx.codes import okx_error
from tests.fakes import okx_render as render
from tests.fakes.okx_wire import Answer, Ctx, ms, num, param_error

Handler = Callable[[Ctx], Awaitable[list[Any] | Answer]]
Routes = dict[tuple[str, str], tuple[Handler, bool]]  # (method, path) -> (handler, private)
MAX_BOOK_DEPTH = 400
CANDLE_BARS = {"1m": "1m", "5m": "5m", "15m": "15m", "1H": "1h"}  # OKX's bar -> the engine's
MAX_CANDLES = 300


def _symbols(ctx: Ctx) -> list[str] | None:
    """instId, which OKX allows as a comma-separated list on some reads."""
    inst_id = ctx.get("instId")
    if inst_id is None:
        return None
    symbols = inst_id.split(",")
    for symbol in symbols:
        ctx.exchange.instrument(symbol)  # 51001 for an unknown one
    return symbols


def _swap_only(ctx: Ctx, *, required: bool) -> bool:
    """False when the request asks for another instrument type than SWAP: the paper
    venue lists only perpetual swaps, so the answer is an empty list."""
    inst_type = ctx.get("instType", required=required)
    return inst_type in (None, "SWAP")


# -- public and market ----------------------------------------------------------------


async def instruments(ctx: Ctx) -> list[Any]:
    if not _swap_only(ctx, required=True):
        return []
    wanted = _symbols(ctx)
    return [render.instrument_row(i) for s, i in ctx.exchange.instruments.items()
            if wanted is None or s in wanted]


async def mark_prices(ctx: Ctx) -> list[Any]:
    # The docs mark instType required, yet ccxt sends only instId and OKX answers it.
    if not _swap_only(ctx, required=ctx.get("instId") is None):
        return []
    wanted = _symbols(ctx) or list(ctx.exchange.instruments)
    return [render.mark_price_row(ctx.exchange, s) for s in wanted]


async def ticker(ctx: Ctx) -> list[Any]:
    symbol = ctx.need("instId")
    ctx.exchange.instrument(symbol)
    return [render.ticker_row(ctx.exchange, symbol)]


async def tickers(ctx: Ctx) -> list[Any]:
    if not _swap_only(ctx, required=True):
        return []
    return [render.ticker_row(ctx.exchange, s) for s in ctx.exchange.instruments]


async def books(ctx: Ctx) -> list[Any]:
    symbol = ctx.need("instId")
    depth = ctx.number("sz")
    if depth is not None and (depth != depth.to_integral_value() or not 0 < depth <= 400):
        raise param_error("sz")
    return [render.book_row(ctx.exchange.order_book(symbol, int(depth or 1)))]


async def candles(ctx: Ctx) -> list[Any]:
    """The paper engine's candles as OKX sends them: newest first, `confirm` "0" on the
    bar still forming. `after`/`before` paging is not served: nothing here asks for it."""
    symbol = ctx.need("instId")
    bar = CANDLE_BARS.get(ctx.get("bar") or "1m")
    if bar is None:
        raise param_error("bar")
    limit = ctx.number("limit")
    if limit is not None and (limit != limit.to_integral_value() or not 0 < limit <= MAX_CANDLES):
        raise param_error("limit")
    rows = ctx.exchange.candles(symbol, bar, int(limit or 100))
    return [[ms(c.time), num(c.open), num(c.high), num(c.low), num(c.close), "0", "0", "0",
             "0" if n == 0 else "1"] for n, c in enumerate(reversed(rows))]


async def server_time(ctx: Ctx) -> list[Any]:
    return [{"ts": ms(ctx.exchange.clock())}]


async def currencies(ctx: Ctx) -> list[Any]:
    # What ccxt's load_markets asks for with keys outside sandbox mode.
    return [{"ccy": "USDT", "name": "Tether", "chain": "USDT-TRC20", "canDep": True,
             "canWd": True, "canInternal": True, "minDep": "1", "minWd": "2",
             "maxWd": "1000000", "wdTickSz": "6", "minFee": "1", "maxFee": "2",
             "mainNet": False, "logoLink": ""}]


# -- account --------------------------------------------------------------------------


async def config(ctx: Ctx) -> list[Any]:
    uid = render.numeric_id(ctx.user)
    return [{"uid": uid, "mainUid": uid, "acctLv": "2", "posMode": "long_short_mode",
             "autoLoan": False, "greeksType": "PA", "level": "Lv1", "levelTmp": "",
             "ctIsoMode": "automatic", "mgnIsoMode": "automatic", "label": "paper",
             "perm": "read_only,trade", "roleType": "0", "ip": "", "kycLv": "2"}]


async def balance(ctx: Ctx) -> list[Any]:
    row = render.balance_row(ctx.exchange, ctx.user)
    ccy = ctx.get("ccy")
    if ccy is not None:
        row["details"] = [d for d in row["details"] if d["ccy"] in ccy.split(",")]
    return [row]


async def positions(ctx: Ctx) -> list[Any]:
    if not _swap_only(ctx, required=False):
        return []
    wanted, pos_ids = _symbols(ctx), ctx.get("posId")
    ex, now = ctx.exchange, ctx.exchange.clock()
    rows = []
    for p in ex.positions(ctx.user):
        if wanted is not None and p.symbol not in wanted:
            continue
        pending = sum((o.unfilled_size for o in ex.open_orders(ctx.user, p.symbol)
                       if o.position_side is p.side and o.side is not p.side.open_order_side),
                      ZERO)
        row = render.position_row(p, pending, now)
        if pos_ids is None or row["posId"] in pos_ids.split(","):
            rows.append(row)
    return rows


def _isolated(ctx: Ctx) -> None:
    if ctx.need("mgnMode") != "isolated":
        # The paper venue is isolated margin only.
        raise okx_error("51010", "Cross margin is not available on this paper account")


async def set_leverage(ctx: Ctx) -> list[Any]:
    _isolated(ctx)
    symbol, side = ctx.need("instId"), ctx.side()
    lever = ctx.number("lever", required=True)
    assert lever is not None
    ctx.exchange.set_leverage(ctx.user, symbol, side, lever)
    return [{"lever": num(lever), "mgnMode": "isolated", "instId": symbol,
             "posSide": side.value}]


async def leverage_info(ctx: Ctx) -> list[Any]:
    _isolated(ctx)
    symbols = _symbols(ctx)
    if symbols is None:
        raise okx_error("50014", "Parameter instId can not be empty")
    acct = ctx.exchange.account(ctx.user)
    return [{"instId": s, "mgnMode": "isolated", "posSide": side.value,
             "lever": num(acct.leverage_for(s, side))}
            for s in symbols for side in (Side.LONG, Side.SHORT)]


async def margin_balance(ctx: Ctx) -> list[Any]:
    symbol, side, kind = ctx.need("instId"), ctx.side(), ctx.need("type")
    amount = ctx.number("amt", required=True)
    assert amount is not None
    if kind not in ("add", "reduce"):
        raise param_error("type")
    change = ctx.exchange.change_margin(ctx.user, symbol, side,
                                        amount if kind == "add" else -amount)
    return [{"instId": symbol, "posSide": side.value, "amt": num(amount), "type": kind,
             "leverage": num(change.leverage_after), "ccy": "USDT"}]


ROUTES: Routes = {
    ("GET", "/api/v5/public/instruments"): (instruments, False),
    ("GET", "/api/v5/public/mark-price"): (mark_prices, False),
    ("GET", "/api/v5/public/time"): (server_time, False),
    ("GET", "/api/v5/market/ticker"): (ticker, False),
    ("GET", "/api/v5/market/tickers"): (tickers, False),
    ("GET", "/api/v5/market/books"): (books, False),
    ("GET", "/api/v5/market/candles"): (candles, False),
    ("GET", "/api/v5/asset/currencies"): (currencies, True),
    ("GET", "/api/v5/account/config"): (config, True),
    ("GET", "/api/v5/account/balance"): (balance, True),
    ("GET", "/api/v5/account/positions"): (positions, True),
    ("POST", "/api/v5/account/set-leverage"): (set_leverage, True),
    ("GET", "/api/v5/account/leverage-info"): (leverage_info, True),
    ("POST", "/api/v5/account/position/margin-balance"): (margin_balance, True),
}
