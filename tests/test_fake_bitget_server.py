"""The fake Bitget server itself: what the REAL ccxt `bitget` class (4.5.90) sends it and
reads back, and, where the wire matters, raw HTTP: Bitget's envelope, codes and HTTP
statuses, hedge and one-way position modes, and sizes in base coin converted exactly
to and from the paper engine's contracts (BTC: 0.01 coin a contract, in lots of 0.01)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from decimal import Decimal as D
from typing import Any
from urllib.parse import urlencode

import aiohttp
import ccxt.async_support as ccxt
import pytest

from bot.domain import OrderRequest, OrderSide, OrderType, Side
from tests.fakes.bitget_accounts import CREDENTIALS, KEYS, credentials_of, seeded_exchange
from tests.fakes.bitget_server import FakeBitgetServer

BTC, APT = "BTC/USDT:USDT", "APT/USDT:USDT"
BTC_SWAP = "BTC-USDT-SWAP"  # the engine's id
MIX = "/api/v2/mix"
HEDGED = {"hedged": True, "marginMode": "isolated"}  # how our adapter speaks to ccxt


@pytest.fixture
def exchange():
    ex = seeded_exchange()
    ex.set_mark(BTC_SWAP, D(95000))
    return ex


@pytest.fixture
async def server(exchange):
    async with FakeBitgetServer(exchange, KEYS, credentials=CREDENTIALS) as srv:
        yield srv
    assert srv.errors == []


def bitget_client(server: FakeBitgetServer, account: str = "main", *,
                  secret: str | None = None) -> ccxt.bitget:
    creds = credentials_of(account)
    client = ccxt.bitget({
        "apiKey": creds["api_key"], "secret": secret or creds["api_secret"],
        "password": creds["passphrase"], "enableRateLimit": False, "timeout": 2000,
        "options": {"defaultType": "swap", "fetchMarkets": {"types": ["swap"]}}})
    client.urls["api"] = {family: server.base_url for family in client.urls["api"]}
    client.timeout_on_exit = 0  # plain HTTP: nothing to wind down
    return client


@pytest.fixture
async def bitget(server):
    client = bitget_client(server)
    yield client
    await client.close()


async def call(server: FakeBitgetServer, method: str, path: str,
               params: dict[str, Any] | None = None, *, account: str | None = "main",
               headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """A raw request, signed as Bitget wants it when `account` is given."""
    query = urlencode(sorted((params or {}).items())) if method == "GET" else ""
    target = path + (f"?{query}" if query else "")
    body = json.dumps(params or {}) if method == "POST" else ""
    sent = {"Content-Type": "application/json"}
    if account is not None:
        creds = credentials_of(account)
        stamp = str(int(time.time() * 1000))
        digest = hmac.new(creds["api_secret"].encode(),
                          (stamp + method + target + body).encode(), hashlib.sha256).digest()
        sent.update({"ACCESS-KEY": creds["api_key"],
                     "ACCESS-SIGN": base64.b64encode(digest).decode(),
                     "ACCESS-TIMESTAMP": stamp, "ACCESS-PASSPHRASE": creds["passphrase"]})
    sent.update(headers or {})
    async with aiohttp.ClientSession() as session, session.request(
            method, server.base_url + target, data=body or None, headers=sent) as answer:
        return answer.status, await answer.json()


def place(symbol="BTCUSDT", **fields: str) -> dict[str, str]:
    return {"symbol": symbol, "productType": "USDT-FUTURES", "marginMode": "isolated",
            "marginCoin": "USDT", "orderType": "limit", "force": "gtc", **fields}


# -- envelope, markets, auth -------------------------------------------------------------


async def test_the_envelope_and_a_contract_in_coin(server):
    status, answer = await call(server, "GET", f"{MIX}/market/contracts",
                                {"productType": "USDT-FUTURES", "symbol": "BTCUSDT"},
                                account=None)
    assert status == 200
    assert (answer["code"], answer["msg"], type(answer["requestTime"])) == (
        "00000", "success", int)
    [row] = answer["data"]
    assert {k: row[k] for k in ("symbol", "baseCoin", "quoteCoin", "sizeMultiplier",
                                "minTradeNum", "volumePlace", "pricePlace", "priceEndStep",
                                "maxLever", "symbolType", "symbolStatus",
                                "supportMarginCoins")} == {
        "symbol": "BTCUSDT", "baseCoin": "BTC", "quoteCoin": "USDT",
        "sizeMultiplier": "0.0001", "minTradeNum": "0.0001",  # 0.01 lot x 0.01 coin
        "volumePlace": "4", "pricePlace": "1", "priceEndStep": "1", "maxLever": "100",
        "symbolType": "perpetual", "symbolStatus": "normal", "supportMarginCoins": ["USDT"]}
    assert all(isinstance(v, str) for k, v in row.items() if k != "supportMarginCoins")


async def test_other_product_types_list_nothing_and_no_such_type_is_40020(server):
    _, coin_m = await call(server, "GET", f"{MIX}/market/contracts",
                           {"productType": "COIN-FUTURES"}, account=None)
    assert coin_m["data"] == []
    status, wrong = await call(server, "GET", f"{MIX}/market/contracts",
                               {"productType": "SPOT-ISH"}, account=None)
    assert (status, wrong["code"], wrong["data"]) == (400, "40020", None)
    status, nowhere = await call(server, "GET", "/api/v2/mix/market/nosuch", account=None)
    assert (status, nowhere["code"]) == (404, "40404")


async def test_ccxt_loads_the_paper_instruments_as_coin_markets(exchange, bitget):
    markets = await bitget.load_markets()
    assert len(markets) == len(exchange.instruments)
    btc = markets[BTC]
    assert (btc["id"], btc["swap"], btc["linear"], btc["contractSize"], btc["settleId"],
            btc["precision"], btc["limits"]["amount"]["min"],
            btc["limits"]["leverage"]["max"]) == (
        "BTCUSDT", True, True, 1, "USDT", {"amount": 0.0001, "price": 0.1}, 0.0001, 100)
    # CRV is 10 coin a contract in whole lots, DOGE 1000 in lots of 0.01 at 0.00001
    assert markets["CRV/USDT:USDT"]["precision"] == {"amount": 10, "price": 0.0001}
    assert markets["DOGE/USDT:USDT"]["precision"] == {"amount": 10, "price": 0.00001}
    assert bitget.amount_to_precision(BTC, 0.00037) == "0.0003"


async def test_private_requests_need_key_passphrase_and_signature(server):
    path, query = f"{MIX}/account/accounts", {"productType": "USDT-FUTURES"}
    status, answer = await call(server, "GET", path, query, account=None)
    assert (status, answer["code"]) == (401, "40001")
    assert (await call(server, "GET", path, query))[1]["code"] == "00000"
    for headers, code in (({"ACCESS-KEY": "nosuch"}, "40006"),
                          ({"ACCESS-PASSPHRASE": "wrong"}, "40012"),
                          ({"ACCESS-SIGN": "d3Jvbmc="}, "40009")):
        status, answer = await call(server, "GET", path, query, headers=headers)
        assert (status, answer["code"]) == (401, code)
    wrong = bitget_client(server, secret="not-the-secret")
    try:
        with pytest.raises(ccxt.AuthenticationError):
            await wrong.fetch_balance()
    finally:
        await wrong.close()


async def test_demo_trading_needs_the_paptrading_header(exchange):
    async with FakeBitgetServer(exchange, KEYS, demo=True) as server:
        live = bitget_client(server)
        demo = bitget_client(server)
        demo.set_sandbox_mode(True)
        demo.urls["api"] = {family: server.base_url for family in demo.urls["api"]}
        try:
            with pytest.raises(ccxt.ExchangeError, match="40099"):
                await live.fetch_balance()
            balance = await demo.fetch_balance()
        finally:
            await live.close()
            await demo.close()
    assert balance["USDT"]["total"] == 1023  # 900 cash + 80 and 20 margin + 20 and 3 profit
    assert server.requests[-1].headers["PAPTRADING"] == "1"


# -- orders in hedge mode ----------------------------------------------------------------


async def test_a_hedge_mode_grid_round_trip_in_coin(server, exchange, bitget):
    await bitget.create_order(BTC, "limit", "buy", 0.0003, 94000,
                              {**HEDGED, "clientOrderId": "b1"})
    [sent] = server.requests_to(f"{MIX}/order/place-order")
    assert sent.body == place(price="94000", size="0.0003", side="buy", tradeSide="Open",
                              force="GTC", clientOid="b1")
    engine = exchange.orders["1"]
    assert (engine.size, engine.side, engine.position_side, engine.reduce_only) == (
        D("0.03"), OrderSide.BUY, Side.LONG, False)  # 0.0003 BTC = 0.03 contracts exactly

    resting = await bitget.fetch_order("", BTC, {"clientOrderId": "b1"})
    assert (resting["side"], resting["amount"], resting["filled"], resting["status"],
            resting["reduceOnly"]) == ("buy", 0.0003, 0, "open", False)
    assert {k: resting["info"][k] for k in ("posSide", "tradeSide", "posMode", "state")} == {
        "posSide": "long", "tradeSide": "open", "posMode": "hedge_mode", "state": "live"}
    [pending] = await bitget.fetch_open_orders(BTC)
    assert (pending["clientOrderId"], pending["info"]["status"]) == ("b1", "live")

    exchange.set_mark(BTC_SWAP, D(93900))  # the mark falls through the level
    bought = await bitget.fetch_order(resting["id"], BTC)
    assert (bought["status"], bought["filled"], bought["average"], bought["fee"]["cost"]) == (
        "closed", 0.0003, 94000, float(engine.fee))  # Bitget's fee is negative: ccxt flips it

    await bitget.create_order(BTC, "market", "sell", 0.0003, None,
                              {**HEDGED, "reduceOnly": True, "clientOrderId": "s1"})
    close = server.requests_to(f"{MIX}/order/place-order")[-1].body
    assert (close["side"], close["tradeSide"]) == ("buy", "Close")  # side names the long
    sold = await bitget.fetch_order("", BTC, {"clientOrderId": "s1"})
    assert (sold["side"], sold["reduceOnly"], sold["info"]["side"],
            sold["info"]["tradeSide"], sold["info"]["reduceOnly"]) == (
        "sell", True, "buy", "close", "YES")
    opened, closed = sorted(await bitget.fetch_my_trades(BTC), key=lambda t: t["order"])
    assert (opened["amount"], opened["price"], opened["takerOrMaker"],
            opened["info"]["tradeSide"]) == (0.0003, 94000, "maker", "open")
    assert (closed["amount"], closed["takerOrMaker"], closed["info"]["side"],
            closed["info"]["tradeSide"], closed["fee"]["cost"] > 0) == (
        0.0003, "taker", "buy", "close", True)  # ccxt leaves a fill's side as Bitget says
    assert D(closed["info"]["profit"]) == exchange.account_fills("main")[-1].realized_pnl
    assert await bitget.fetch_positions([BTC]) == []


async def test_positions_in_coin_with_their_pending_orders(server, exchange, bitget):
    exchange.seed_position("main", BTC_SWAP, Side.LONG, D("0.05"), D(94000), D(10))
    exchange.faults.never_fill("main")
    await bitget.create_order(BTC, "limit", "sell", 0.0002, 96000,
                              {**HEDGED, "reduceOnly": True, "clientOrderId": "c1"})
    await bitget.create_order(BTC, "limit", "buy", 0.0001, 93000,
                              {**HEDGED, "clientOrderId": "o1"})
    _, answer = await call(server, "GET", f"{MIX}/position/single-position",
                           {"symbol": "BTCUSDT", "productType": "USDT-FUTURES",
                            "marginCoin": "USDT"})
    [row] = answer["data"]
    assert {k: row[k] for k in ("holdSide", "total", "available", "locked", "openDelegateSize",
                                "openPriceAvg", "marginSize", "leverage", "unrealizedPL",
                                "markPrice", "marginMode", "posMode")} == {
        "holdSide": "long", "total": "0.0005", "available": "0.0003", "locked": "0.0002",
        "openDelegateSize": "0.0001", "openPriceAvg": "94000", "marginSize": "4.7",
        "leverage": "10", "unrealizedPL": "0.5", "markPrice": "95000",
        "marginMode": "isolated", "posMode": "hedge_mode"}
    [position] = await bitget.fetch_positions([BTC])
    assert (position["side"], position["contracts"], position["entryPrice"],
            position["positionMargin"], position["unrealizedPnl"], position["hedged"],
            position["marginMode"]) == ("long", 0.0005, 94000, 4.7, 0.5, True, "isolated")


async def test_balance_leverage_and_margin(server, exchange, bitget):
    balance = await bitget.fetch_balance()
    engine = exchange.balance("main")
    assert (balance["USDT"]["total"], balance["USDT"]["free"]) == (
        float(engine.equity), float(engine.free))

    await bitget.set_leverage(5, APT, {"holdSide": "long"})
    leverage = await bitget.fetch_leverage(APT)
    assert (leverage["marginMode"], leverage["longLeverage"], leverage["shortLeverage"]) == (
        "isolated", 5, 10)
    with pytest.raises(ccxt.BadRequest, match="holdSide"):  # one side at a time in hedge mode
        await bitget.set_leverage(5, APT)

    await bitget.add_margin(APT, 5, {"holdSide": "short"})
    assert server.requests_to(f"{MIX}/account/set-margin")[-1].body["amount"] == "5"
    await bitget.reduce_margin(APT, -3, {"holdSide": "short"})
    short = next(p for p in exchange.positions("main") if p.side is Side.SHORT)
    assert short.margin == D(22)  # 20 + 5 - 3
    with pytest.raises(ccxt.ExchangeError, match="22002"):  # no BTC long to add to
        await bitget.add_margin(BTC, 5, {"holdSide": "long"})


# -- position modes --------------------------------------------------------------------


async def test_one_way_mode_takes_reduce_only_and_refuses_hedge_orders(server, exchange,
                                                                       bitget):
    hedge_shaped = {"marginMode": "isolated"}  # no tradeSide: a one-way order
    with pytest.raises(ccxt.InvalidOrder, match="40774"):
        await bitget.create_order(APT, "market", "sell", 10, None, hedge_shaped)
    await bitget.set_position_mode(False, APT)
    assert server.state.pos_mode("main") == "one_way_mode"
    with pytest.raises(ccxt.InvalidOrder, match="40774"):
        await bitget.create_order(APT, "market", "buy", 10, None, HEDGED)

    await bitget.create_order(APT, "market", "sell", 10, None,
                              {"marginMode": "isolated", "reduceOnly": True,
                               "clientOrderId": "ow1"})
    sent = server.requests_to(f"{MIX}/order/place-order")[-1].body
    assert (sent["side"], sent["reduceOnly"], "tradeSide" in sent) == ("sell", "YES", False)
    closed = await bitget.fetch_order("", APT, {"clientOrderId": "ow1"})
    assert (closed["side"], closed["reduceOnly"], closed["info"]["posSide"],
            closed["info"]["posMode"]) == ("sell", True, "net", "one_way_mode")
    long = next(p for p in exchange.positions("main") if p.side is Side.LONG)
    assert long.size == D(90)


# -- refusals ---------------------------------------------------------------------------


async def test_order_refusals_carry_bitgets_codes(server, exchange, bitget):
    await bitget.load_markets()
    refusals = [
        (place(size="0.00015", price="94000", side="buy", tradeSide="open"), "40808"),
        (place(size="0.0001", price="94000.05", side="buy", tradeSide="open"), "41103"),
        (place("DOGEUSDT", size="10", price="0.16", side="buy", tradeSide="open"), "45110"),
        (place(size="0.0001", price="94000", side="buy", tradeSide="open",
               marginMode="crossed"), "40017"),
        (place(size="1", price="94000", side="buy", tradeSide="open"), "40762"),
        (place(size="0.0001", price="94000", side="buy", tradeSide="close"), "22002"),
    ]
    for body, code in refusals:
        status, answer = await call(server, "POST", f"{MIX}/order/place-order", body)
        assert (status, answer["code"], answer["data"]) == (400, code, None), body
    assert exchange.orders == {}

    fields = place(size="0.0001", price="94000", side="buy", tradeSide="open", clientOid="d1")
    assert (await call(server, "POST", f"{MIX}/order/place-order", fields))[0] == 200
    status, answer = await call(server, "POST", f"{MIX}/order/place-order", fields)
    assert (status, answer["code"], answer["msg"]) == (400, "40786", "Duplicate clientOid")


async def test_unknown_orders_are_not_found(server, bitget):
    with pytest.raises(ccxt.OrderNotFound, match="40109"):
        await bitget.fetch_order("", APT, {"clientOrderId": "nosuch"})
    with pytest.raises(ccxt.OrderNotFound, match="40768"):
        await bitget.cancel_order("", APT, {"clientOrderId": "nosuch"})
    done = await bitget.create_order(APT, "market", "sell", 1, None,
                                     {**HEDGED, "reduceOnly": True, "clientOrderId": "k1"})
    with pytest.raises(ccxt.OrderNotFound, match="40768"):  # filled: nothing to cancel
        await bitget.cancel_order(done["id"], APT)
    with pytest.raises(ccxt.OrderNotFound, match="40109"):  # not in that symbol
        await bitget.fetch_order(done["id"], BTC)
    status, answer = await call(server, "GET", f"{MIX}/order/detail",
                                {"symbol": "APTUSDT", "productType": "USDT-FUTURES",
                                 "orderId": "42"})
    assert (status, answer["code"]) == (400, "40109")


async def test_fail_next_answers_bitget_codes_at_their_statuses(server, bitget):
    await bitget.load_markets()
    server.fail_next("429", path=f"{MIX}/account/accounts")
    with pytest.raises(ccxt.DDoSProtection):  # ccxt's class for Bitget's 429
        await bitget.fetch_balance()
    server.fail_next("40604")
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await bitget.fetch_positions([APT])
    server.fail_next("429")
    status, answer = await call(server, "GET", "/api/v2/public/time", account=None)
    assert (status, answer["code"], answer["msg"], answer["data"]) == (
        429, "429", "Too Many Requests", None)
    assert (await bitget.fetch_balance())["USDT"]["total"] == 1023


async def test_engine_faults_answer_in_bitget_codes(server, exchange, bitget):
    exchange.faults.reject_orders("51008", account="main")
    with pytest.raises(ccxt.InsufficientFunds, match="40762"):
        await bitget.create_order(APT, "market", "sell", 1, None, {**HEDGED, "reduceOnly": True})
    exchange.faults.timeout_after_accept(account="main")
    bitget.timeout = 300
    with pytest.raises(ccxt.RequestTimeout):
        await bitget.create_order(APT, "market", "sell", 1, None,
                                  {**HEDGED, "reduceOnly": True, "clientOrderId": "t1"})
    assert (await bitget.fetch_order("", APT, {"clientOrderId": "t1"}))["status"] == "closed"
    exchange.faults.never_fill("main")
    await bitget.create_order(APT, "market", "sell", 1, None,
                              {**HEDGED, "reduceOnly": True, "clientOrderId": "n1"})
    [stuck] = await bitget.fetch_open_orders(APT)
    assert (stuck["clientOrderId"], stuck["status"]) == ("n1", "open")


# -- reads ------------------------------------------------------------------------------


async def test_empty_lists_are_null_and_fills_page_newest_first(server, exchange):
    query = {"productType": "USDT-FUTURES", "symbol": "APTUSDT"}
    _, pending = await call(server, "GET", f"{MIX}/order/orders-pending", query)
    _, no_fills = await call(server, "GET", f"{MIX}/order/fills", query)
    assert (pending["data"], no_fills["data"]) == ({"entrustedList": None, "endId": None},
                                                   {"fillList": None, "endId": None})
    for n in range(3):
        exchange.place_order("main", OrderRequest(f"p{n}", "APT-USDT-SWAP", OrderSide.SELL,
                                                  Side.LONG, OrderType.MARKET, D(1),
                                                  reduce_only=True))
    _, first = await call(server, "GET", f"{MIX}/order/fills", {**query, "limit": "2"})
    _, rest = await call(server, "GET", f"{MIX}/order/fills",
                         {**query, "idLessThan": first["data"]["endId"]})
    ids = [f["tradeId"] for f in first["data"]["fillList"] + rest["data"]["fillList"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 3
    _, history = await call(server, "GET", f"{MIX}/order/fill-history", query)
    assert [f["tradeId"] for f in history["data"]["fillList"]] == ids


async def test_ticker_mark_and_book_in_coin(server, exchange, bitget):
    ticker = await bitget.fetch_ticker(BTC)
    mark = await bitget.fetch_mark_price(BTC)
    assert (ticker["last"], ticker["markPrice"], mark["markPrice"]) == (95000, 95000, 95000)
    book = await bitget.fetch_order_book(BTC, 5)
    engine = exchange.order_book(BTC_SWAP, 5)
    assert [(D(str(p)), D(str(s))) for p, s in book["bids"]] == [
        (level.price, level.size * D("0.01")) for level in engine.bids]
    assert (ticker["bid"], ticker["bidVolume"]) == tuple(book["bids"][0])
    status, answer = await call(server, "GET", f"{MIX}/market/merge-depth",
                                {"symbol": "BTCUSDT", "productType": "USDT-FUTURES",
                                 "limit": "3"}, account=None)
    assert (status, answer["code"]) == (400, "40020")  # only the gears 1/5/15/50/max
    assert exchange.orders == {}  # reads changed nothing
