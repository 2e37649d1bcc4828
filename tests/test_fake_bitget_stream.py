"""The fake Bitget server's websocket side against the REAL ccxt.pro `bitget` class: login
and its signature, the positions channel (a snapshot of all positions on every push),
orders, the ticker with its mark, ping/pong, and the faults (drop, down, latency)."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal as D

import ccxt.pro as ccxt_pro
import pytest

from bot.domain import OrderRequest, OrderSide, OrderType, Side
from bot.venues.ccxt.stream import point_ws
from tests.fakes.bitget_accounts import CREDENTIALS, KEYS, credentials_of, seeded_exchange
from tests.fakes.bitget_server import FakeBitgetServer

APT, APT_ID = "APT/USDT:USDT", "APT-USDT-SWAP"


@pytest.fixture
def exchange():
    ex = seeded_exchange()  # main: APT long 100 @ 5 and short 30 @ 5.3; mark 5.2
    ex.market.freeze()
    return ex


@pytest.fixture
async def server(exchange):
    async with FakeBitgetServer(exchange, KEYS, credentials=CREDENTIALS) as srv:
        yield srv
    assert srv.errors == []


def client(server, account="main", *, secret=None, keep_alive_ms=5000):
    creds = credentials_of(account)
    sdk = ccxt_pro.bitget({
        "apiKey": creds["api_key"], "secret": secret or creds["api_secret"],
        "password": creds["passphrase"], "enableRateLimit": False,
        "options": {"defaultType": "swap", "fetchMarkets": {"types": ["swap"]},
                    "ws": {"keepAlive": keep_alive_ms}}})
    api = {k: (v if isinstance(v, dict) else server.base_url) for k, v in sdk.urls["api"].items()}
    sdk.urls["api"] = point_ws(api, None, server.base_url)
    sdk.timeout_on_exit = 0
    return sdk


async def within(awaitable, seconds=10.0):
    return await asyncio.wait_for(awaitable, seconds)


def held(positions):
    return sorted((p["symbol"], p["side"], p["contracts"], p["entryPrice"], p["initialMargin"])
                  for p in positions)


def sell(size, client_id="t1"):
    return OrderRequest(client_id=client_id, symbol=APT_ID, side=OrderSide.SELL,
                        position_side=Side.LONG, type=OrderType.MARKET, size=D(size),
                        reduce_only=True)


async def test_positions_are_the_rest_rows_and_every_push_is_all_of_them(exchange, server):
    sdk = client(server)
    try:
        rest = await sdk.fetch_positions()
        streamed = await within(sdk.watch_positions())
        assert held(streamed) == held(rest)
        assert {p["side"]: p["markPrice"] for p in streamed} == {"long": 5.2, "short": 5.2}
        login, subscribe = [m.message for m in server.ws_messages]
        assert login["op"] == "login" and login["args"][0]["apiKey"] == "bg-key-main"
        assert subscribe == {"op": "subscribe", "args": [
            {"instType": "USDT-FUTURES", "channel": "positions", "instId": "default"}]}
        # a mark alone does not move the positions channel: the next push is the trade
        exchange.set_mark(APT_ID, D("5.25"))
        pending = asyncio.ensure_future(sdk.watch_positions())
        await asyncio.sleep(0.2)
        assert not pending.done()
        exchange.place_order("main", sell(40))
        pushed = await within(pending)
        assert held(pushed) == [(APT, "long", 60.0, 5.0, 48.0), (APT, "short", 30.0, 5.3, 20.0)]
        exchange.place_order("main", sell(60, "t2"))  # closed: gone from the next push
        assert [p["side"] for p in await within(sdk.watch_positions())] == ["short"]
    finally:
        await sdk.close()


async def test_the_ticker_carries_the_mark_pushed_on_every_change(exchange, server):
    sdk = client(server)
    try:
        ticker = await within(sdk.watch_ticker(APT))
        assert (ticker["symbol"], ticker["last"], ticker["info"]["markPrice"]) == (APT, 5.2,
                                                                                   "5.2")
        exchange.set_mark(APT_ID, D("5.31"))
        ticker = await within(sdk.watch_ticker(APT))
        assert ticker["info"]["markPrice"] == "5.31"
        server.ticker_idle_push_seconds = 0.1  # unchanged, it is pushed again all the same
        ticker = await within(sdk.watch_ticker(APT))
        assert ticker["info"]["markPrice"] == "5.31"
        [subscribe] = [m.message for m in server.ws_messages]
        assert subscribe["args"] == [{"instType": "USDT-FUTURES", "channel": "ticker",
                                      "instId": "APTUSDT"}]
    finally:
        await sdk.close()


async def test_orders_are_pushed_live_then_filled(exchange, server):
    sdk = client(server)
    try:
        first = asyncio.ensure_future(sdk.watch_orders())
        await asyncio.sleep(0.3)  # subscribed: nothing is pushed until an order changes
        assert not first.done()
        exchange.place_order("main", sell(10))
        orders = await within(first)
        while orders[-1]["status"] != "closed":
            orders = await within(sdk.watch_orders())
        order = orders[-1]
        assert (order["symbol"], order["clientOrderId"], order["amount"]) == (APT, "t1", 10.0)
        assert order["info"]["accBaseVolume"] == "10"
    finally:
        await sdk.close()


async def test_a_wrong_signature_is_refused_at_login(server):
    sdk = client(server, secret="not-the-secret")
    try:
        with pytest.raises(ccxt_pro.AuthenticationError, match="30015"):
            await within(sdk.watch_positions())
    finally:
        await sdk.close()


async def test_pings_are_answered_and_a_drop_or_an_outage_rejects_the_watch(exchange, server):
    sdk = client(server, keep_alive_ms=100)
    try:
        await within(sdk.watch_positions())
        deadline = time.monotonic() + 5
        while server.ws_pings < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert server.ws_pings >= 3  # answered "pong": the connection lives on
        pending = asyncio.ensure_future(sdk.watch_positions())
        await asyncio.sleep(0.05)
        server.drop_streams()
        with pytest.raises(ccxt_pro.NetworkError):
            await within(pending)
        server.streams_down(True)
        with pytest.raises(ccxt_pro.NetworkError):
            await within(sdk.watch_positions())
        server.streams_down(False)
        await asyncio.sleep(0.5)  # (ccxt's own dial backoff after a refused dial)
        again = await within(sdk.watch_positions())  # dials, logs in, subscribes afresh
        assert len(again) == 2
        assert sum(m.message.get("op") == "login" for m in server.ws_messages) == 2
    finally:
        await sdk.close()


async def test_latency_delays_pushes_in_order(exchange, server):
    sdk = client(server)
    handled: list[str] = []
    handle = sdk.handle_ticker

    def recording(ws_client, message):  # every push as ccxt handles it, in order
        handled.append(message["data"][0]["markPrice"])
        handle(ws_client, message)

    sdk.handle_ticker = recording
    try:
        await within(sdk.watch_ticker(APT))
        exchange.faults.latency_seconds = 0.3
        began = time.monotonic()
        for mark in ("5.3", "5.4", "5.5"):
            exchange.set_mark(APT_ID, D(mark))
            await asyncio.sleep(0.05)  # one diff each
        await within(sdk.watch_ticker(APT))
        assert time.monotonic() - began >= 0.3
        while handled[-1] != "5.5":
            await asyncio.sleep(0.01)
        assert handled == ["5.2", "5.3", "5.4", "5.5"]  # all of them, in order
    finally:
        exchange.faults.latency_seconds = 0
        await sdk.close()


async def test_private_channels_need_a_login_and_unknown_ones_are_refused(server):
    import aiohttp

    async with aiohttp.ClientSession() as http, \
            http.ws_connect(server.ws_url + "/v2/ws/private") as ws:
        await ws.send_json({"op": "subscribe", "args": [
            {"instType": "USDT-FUTURES", "channel": "positions", "instId": "default"}]})
        assert (await ws.receive_json(timeout=5))["code"] == 30004
        await ws.send_json({"op": "subscribe", "args": [
            {"instType": "USDT-FUTURES", "channel": "nope", "instId": "default"}]})
        assert (await ws.receive_json(timeout=5))["code"] == 30001
        await ws.send_str("ping")
        assert (await ws.receive(timeout=5)).data == "pong"
    # the server closes with a client still connected: no error, nothing left running
