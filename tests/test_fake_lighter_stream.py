"""The fake Lighter server's websocket (tests/fakes/lighter_stream.py), driven by a plain
`websockets` client speaking Lighter's protocol: the greeting, market_stats and
account_all in Lighter's shapes, pushes on engine changes, keepalive, latency, the stream
faults, and a clean shutdown."""

from __future__ import annotations

import asyncio
import json
import math
import time
from decimal import Decimal as D

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bot.domain import OrderRequest, OrderSide, OrderType, Side, TimeInForce
from tests.fakes.lighter_server import MARKETS, FakeLighterServer, lighter_exchange

ACCOUNT, BTC, ETH = 7, 1, 0
WAIT = 2.0  # seconds a push may take before the test gives up on it
QUIET = 0.2  # seconds of silence that count as "nothing pushed"


@pytest.fixture
def exchange():
    """BTC 95000, ETH 3000, held still; account 7 ("main") long 0.003 BTC @ 94000, 10x."""
    ex = lighter_exchange({"BTC": D("95000"), "ETH": D("3000")})
    ex.market.freeze()
    ex.add_account("main", D("10000"))
    ex.seed_position("main", "BTC", Side.LONG, D("0.003"), D("94000"), D("10"))
    return ex


@pytest.fixture
async def server(exchange):
    async with FakeLighterServer(exchange, {ACCOUNT: "main"}, MARKETS) as srv:
        yield srv
    assert srv.errors == []  # the fake itself never failed


def url(server) -> str:
    return server.ws_url + "/stream"


async def recv(ws: ClientConnection, timeout: float = WAIT) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def silent(ws: ClientConnection, quiet: float = QUIET) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), quiet)
    except TimeoutError:
        return True
    return False


async def opened(server) -> ClientConnection:
    ws = await connect(url(server))
    greeting = await recv(ws)
    assert greeting["type"] == "connected" and greeting["session_id"]
    return ws


async def subscribe(ws: ClientConnection, channel: str, **extra) -> dict:
    await ws.send(json.dumps({"type": "subscribe", "channel": channel, **extra}))
    return await recv(ws)


def sell(size: str, client_id: str = "t1") -> OrderRequest:
    return OrderRequest(client_id, "BTC", OrderSide.SELL, Side.LONG, OrderType.MARKET, D(size),
                        None, reduce_only=True, time_in_force=TimeInForce.IOC)


# -- market_stats ----------------------------------------------------------------------


async def test_market_stats_of_one_market_at_once_then_on_every_move(server, exchange):
    async with await opened(server) as ws:
        first = await subscribe(ws, "market_stats/1")
        assert first["type"] == "subscribed/market_stats"
        assert first["channel"] == "market_stats:1"
        stats = first["market_stats"]
        assert (stats["market_id"], stats["symbol"], stats["mark_price"]) == (1, "BTC", "95000.0")
        assert {"index_price", "last_trade_price", "funding_rate", "current_funding_rate",
                "funding_timestamp", "daily_price_change"} <= set(stats)
        assert await silent(ws)
        exchange.set_mark("BTC", D("95100.5"))
        update = await recv(ws)
        assert update["type"] == "update/market_stats"
        assert update["market_stats"]["mark_price"] == "95100.5"
        exchange.set_mark("ETH", D("3001"))  # not this market
        assert await silent(ws)


async def test_market_stats_all_is_a_dict_by_market_id_and_repushes_when_idle(server, exchange):
    server.streams.idle_push_seconds = 0.3
    async with await opened(server) as ws:
        first = await subscribe(ws, "market_stats/all")
        assert first["channel"] == "market_stats:all"
        assert {k: v["mark_price"] for k, v in first["market_stats"].items()} == {
            "1": "95000.0", "0": "3000.00"}
        exchange.set_mark("ETH", D("3001"))
        moved = await recv(ws)
        assert list(moved["market_stats"]) == ["0"]  # only what moved
        idle = await recv(ws, timeout=1.0)  # nothing moved: Lighter's stats tick anyway
        assert set(idle["market_stats"]) == {"0", "1"}


# -- account_all -------------------------------------------------------------------------


async def test_account_all_snapshot_holds_the_rest_rows_by_market(server, exchange):
    async with await opened(server) as ws:
        snapshot = await subscribe(ws, f"account_all/{ACCOUNT}")
        assert snapshot["type"] == "subscribed/account_all"
        assert (snapshot["channel"], snapshot["account"]) == (f"account_all:{ACCOUNT}", ACCOUNT)
        row = snapshot["positions"]["1"]
        assert (row["market_id"], row["sign"], row["position"]) == (1, 1, "0.00300")
        assert row["avg_entry_price"].startswith("94000") and row["allocated_margin"] == "28.200000"
        assert snapshot["trades"] == {} and snapshot["shares"] == []
        assert {"funding_histories", "daily_trades_count", "total_volume"} <= set(snapshot)


async def test_account_all_pushes_a_fill_with_its_trade_and_a_close_once(server, exchange):
    async with await opened(server) as ws:
        await subscribe(ws, f"account_all/{ACCOUNT}")
        exchange.set_mark("BTC", D("96000"))  # only the mark: prices come over market_stats
        assert await silent(ws)
        exchange.place_order("main", sell("0.001"))
        update = await recv(ws)
        assert update["type"] == "update/account_all"
        assert update["positions"]["1"]["position"] == "0.00200"
        [trade] = update["trades"]["1"]
        assert (trade["size"], trade["ask_account_id"]) == ("0.00100", ACCOUNT)
        exchange.place_order("main", sell("0.002", "t2"))
        closed = await recv(ws)
        row = closed["positions"]["1"]
        assert (row["position"], row["sign"]) in (("0", 0), ("0.00000", 0))
        assert await silent(ws)  # once


async def test_refusals_an_unknown_channel_account_or_someone_elses_token(server):
    async with await opened(server) as ws:
        for channel, extra in (("order_book_fancy/1", {}), ("account_all/8", {}),
                               ("market_stats/99", {}),
                               (f"account_all/{ACCOUNT}", {"auth": "1:8:3:ab"})):
            answer = await subscribe(ws, channel, **extra)
            assert answer["error"]["code"] == 30005, channel
        await ws.send("not json")
        assert "error" in await recv(ws)
        ok = await subscribe(ws, f"account_all/{ACCOUNT}", auth=f"1:{ACCOUNT}:3:ab")
        assert ok["type"] == "subscribed/account_all"
    assert server.ws_messages[0].message == {"type": "subscribe",
                                             "channel": "order_book_fancy/1"}


# -- keepalive, latency, faults, shutdown ----------------------------------------------


async def test_the_server_pings_and_counts_pongs_and_client_pings(server):
    server.streams.ping_seconds = 0.2
    async with await opened(server) as ws:
        assert await recv(ws) == {"type": "ping"}
        await ws.send(json.dumps({"type": "pong"}))
        await ws.send(json.dumps({"type": "ping"}))
        await (await ws.ping())  # a ping frame: answered by the server
        server.streams.ping_seconds = math.inf
        await asyncio.sleep(0.1)
    assert (server.streams.pongs, server.streams.pings) == (1, 1)
    assert server.ws_messages == []  # keepalives are not recorded


async def test_latency_delays_pushes_in_order(server, exchange):
    async with await opened(server) as ws:
        await subscribe(ws, "market_stats/1")
        exchange.faults.latency_seconds = 0.3
        began = time.monotonic()
        exchange.set_mark("BTC", D("95001"))
        await asyncio.sleep(0.05)
        exchange.set_mark("BTC", D("95002"))
        marks = [(await recv(ws))["market_stats"]["mark_price"] for _ in range(2)]
        assert marks == ["95001.0", "95002.0"]
        assert time.monotonic() - began >= 0.3


async def test_a_drop_cuts_without_a_close_frame_and_down_refuses_upgrades(server):
    ws = await opened(server)
    await subscribe(ws, "market_stats/1")
    server.drop_streams()
    with pytest.raises(ConnectionClosed) as cut:
        await recv(ws)
    assert cut.value.rcvd is None  # no close frame: 1006
    server.streams_down(True)
    with pytest.raises(InvalidStatus) as refused:
        await connect(url(server))
    assert refused.value.response.status_code == 503
    server.streams_down(False)
    async with await opened(server) as again:
        assert (await subscribe(again, "market_stats/1"))["type"] == "subscribed/market_stats"


async def test_a_clean_shutdown_closes_open_streams_going_away(exchange):
    async with FakeLighterServer(exchange, {ACCOUNT: "main"}, MARKETS) as server:
        ws = await opened(server)
        await subscribe(ws, f"account_all/{ACCOUNT}")
    with pytest.raises(ConnectionClosed) as closed:
        await recv(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert server.errors == []
