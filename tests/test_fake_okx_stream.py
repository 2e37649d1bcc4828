"""The fake OKX server's websocket side (tests/fakes/okx_stream.py), driven by a plain
`websockets` client speaking OKX's v5 protocol: login, mark-price, positions and orders
pushes, keepalive, the stream faults, and a clean shutdown."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from decimal import Decimal as D

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bot.domain import OrderRequest, OrderSide, OrderType, Side, TimeInForce
from bot.venues.okx.venue import OkxVenue
from bot.venues.retry import RetryPolicy
from tests.fakes.okx_accounts import APT, CREDENTIALS, KEYS, credentials_of, seeded_exchange
from tests.fakes.okx_render import numeric_id
from tests.fakes.okx_routes_account import positions as rest_positions
from tests.fakes.okx_server import FakeOkxServer
from tests.fakes.okx_wire import Ctx

PUBLIC, PRIVATE = "/ws/v5/public", "/ws/v5/private"
WAIT = 2.0  # seconds a push may take before the test gives up on it
QUIET = 0.2  # seconds of silence that count as "nothing pushed"


@pytest.fixture
def exchange():
    return seeded_exchange()


@pytest.fixture
async def server(exchange):
    async with FakeOkxServer(exchange, KEYS, credentials=CREDENTIALS) as srv:
        yield srv
    assert srv.errors == []  # the fake itself never failed


async def recv(ws: ClientConnection, timeout: float = WAIT) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def silent(ws: ClientConnection) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), QUIET)
    except TimeoutError:
        return True
    return False


def login_args(key: str = "key-main", *, secret: str | None = None,
               passphrase: str | None = None, timestamp: str | None = None) -> dict:
    creds = CREDENTIALS.get(key)
    secret = secret or (creds.secret if creds else "x")
    timestamp = timestamp or str(int(time.time()))
    digest = hmac.new(secret.encode(), f"{timestamp}GET/users/self/verify".encode(),
                      hashlib.sha256).digest()
    return {"apiKey": key, "passphrase": passphrase or (creds.passphrase if creds else "x"),
            "timestamp": timestamp, "sign": base64.b64encode(digest).decode()}


async def login(ws: ClientConnection, **kwargs) -> dict:
    await ws.send(json.dumps({"op": "login", "args": [login_args(**kwargs)]}))
    return await recv(ws)


async def subscribe(ws: ClientConnection, **arg: str) -> dict:
    await ws.send(json.dumps({"op": "subscribe", "args": [arg]}))
    return await recv(ws)


def market(client_id: str, side: OrderSide, pos: Side, size: str, *,
           reduce_only: bool = False) -> OrderRequest:
    return OrderRequest(client_id, APT, side, pos, OrderType.MARKET, D(size), None,
                        reduce_only=reduce_only, time_in_force=TimeInForce.IOC)


def limit(client_id: str, side: OrderSide, pos: Side, size: str, price: str) -> OrderRequest:
    return OrderRequest(client_id, APT, side, pos, OrderType.LIMIT, D(size), D(price))


# -- login -------------------------------------------------------------------------------


async def test_login_succeeds_with_the_right_signature(server):
    async with connect(server.ws_url + PRIVATE) as ws:
        answer = await login(ws)
    assert answer["event"] == "login" and answer["code"] == "0" and answer["msg"] == ""
    assert len(answer["connId"]) == 8
    [sent] = server.ws_messages
    assert (sent.path, sent.key, sent.message["op"]) == (PRIVATE, None, "login")


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"passphrase": "wrong"}, "60024"),
    ({"secret": "wrong"}, "60007"),
    ({"key": "key-nobody"}, "60005"),
    ({"timestamp": str(int(time.time()) - 3600)}, "60006"),
    ({"timestamp": "2024-01-01T00:00:00.000Z"}, "60004"),  # REST's format, not seconds
])
async def test_login_fails_with_okx_codes(server, kwargs, code):
    async with connect(server.ws_url + PRIVATE) as ws:
        answer = await login(ws, **kwargs)
        assert (answer["event"], answer["code"]) == ("error", code)
        # still not logged in: private channels are refused
        refused = await subscribe(ws, channel="positions", instType="SWAP")
    assert (refused["event"], refused["code"], refused["msg"]) == ("error", "60011",
                                                                   "Please log in")


async def test_a_malformed_login_is_login_failed(server):
    async with connect(server.ws_url + PRIVATE) as ws:
        await ws.send(json.dumps({"op": "login", "args": "key-main"}))
        answer = await recv(ws)
    assert (answer["event"], answer["code"], answer["msg"]) == ("error", "60009",
                                                                "Login failed.")


# -- public: mark-price ------------------------------------------------------------------


async def test_mark_price_pushes_now_and_on_every_change(server, exchange):
    async with connect(server.ws_url + PUBLIC) as ws:
        ack = await subscribe(ws, channel="mark-price", instId=APT)
        assert ack["event"] == "subscribe" and ack["arg"] == {"channel": "mark-price",
                                                              "instId": APT}
        first = await recv(ws)
        assert first["arg"] == {"channel": "mark-price", "instId": APT}
        [row] = first["data"]
        assert (row["instType"], row["instId"], row["markPx"]) == ("SWAP", APT, "5.2")
        assert row["ts"].isdigit()
        exchange.set_mark(APT, D("5.5"))
        assert (await recv(ws))["data"][0]["markPx"] == "5.5"
        # an unrelated change (an account's leverage) pushes no mark
        exchange.set_leverage("main", APT, Side.LONG, D(5))
        assert await silent(ws)
        await ws.send(json.dumps({"op": "unsubscribe",
                                  "args": [{"channel": "mark-price", "instId": APT}]}))
        assert (await recv(ws))["event"] == "unsubscribe"
        exchange.set_mark(APT, D("5.6"))
        assert await silent(ws)


async def test_an_unchanged_mark_is_pushed_every_idle_interval(server):
    server.mark_idle_push_seconds = 0.1
    async with connect(server.ws_url + PUBLIC) as ws:
        await subscribe(ws, channel="mark-price", instId=APT)
        pushes = [await recv(ws) for _ in range(3)]
    assert [p["data"][0]["markPx"] for p in pushes] == ["5.2"] * 3


async def test_unknown_instrument_channel_or_op_is_an_error(server):
    async with connect(server.ws_url + PUBLIC) as ws:
        unknown = await subscribe(ws, channel="mark-price", instId="NOPE-USDT-SWAP")
        private_here = await subscribe(ws, channel="positions", instType="SWAP")
        await ws.send(json.dumps({"op": "fly", "args": []}))
        bad_op = await recv(ws)
        await ws.send("{not json")
        bad_json = await recv(ws)
    assert (unknown["event"], unknown["code"]) == ("error", "60018")
    assert "channel:mark-price,instId:NOPE-USDT-SWAP" in unknown["msg"]
    assert private_here["code"] == "60018"  # positions is served on /private only
    assert (bad_op["code"], bad_op["msg"]) == ("60019", "Invalid op: fly")
    assert bad_json["code"] == "60012"


async def test_ping_is_answered_pong(server):
    async with connect(server.ws_url + PUBLIC) as ws:
        await ws.send("ping")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "pong"
    assert server.ws_pings == 1 and server.ws_messages == []  # keepalives only counted


# -- private: positions and orders -------------------------------------------------------


async def test_positions_snapshot_then_changes_then_a_closed_position(server, exchange):
    async with connect(server.ws_url + PRIVATE) as ws:
        await login(ws)
        ack = await subscribe(ws, channel="positions", instType="SWAP")
        assert ack["arg"] == {"channel": "positions", "instType": "SWAP"}
        snapshot = await recv(ws)
        assert snapshot["arg"] == {"channel": "positions", "instType": "SWAP",
                                   "uid": numeric_id("main")}
        assert snapshot["eventType"] == "snapshot" and snapshot["lastPage"] is True
        rest = await rest_positions(Ctx(exchange, "main", {}))
        times = ("cTime", "uTime")
        assert ([{k: v for k, v in row.items() if k not in times} for row in snapshot["data"]]
                == [{k: v for k, v in row.items() if k not in times} for row in rest])

        exchange.place_order("main", market("add1", OrderSide.BUY, Side.LONG, "10"))
        update = await recv(ws)
        assert update["eventType"] == "event_update"
        [long] = update["data"]  # the short did not change: not pushed
        assert (long["posSide"], long["pos"]) == ("long", "110")

        exchange.place_order("main", market("shut1", OrderSide.BUY, Side.SHORT, "30",
                                            reduce_only=True))
        [short] = (await recv(ws))["data"]
        assert (short["posSide"], short["pos"], short["upl"]) == ("short", "0", "0")
        exchange.set_leverage("main", APT, Side.SHORT, D(3))  # no position to change
        assert await silent(ws)  # a closed position is pushed once


async def test_positions_follow_the_mark_and_margin(server, exchange):
    exchange.set_mark(APT, D("5.2"))
    async with connect(server.ws_url + PRIVATE) as ws:
        await login(ws, key="key-sub1")
        await subscribe(ws, channel="positions", instType="SWAP", instId=APT)
        [row] = (await recv(ws))["data"]
        assert (row["pos"], row["upl"], row["margin"]) == ("60", "12", "32")
        exchange.set_mark(APT, D("5.3"))
        [row] = (await recv(ws))["data"]
        assert (row["markPx"], row["upl"]) == ("5.3", "18")
        exchange.change_margin("sub1", APT, Side.LONG, D(3))
        [row] = (await recv(ws))["data"]
        assert row["margin"] == "35"
        exchange.set_mark(APT, D("5.3"))  # the same mark again: nothing moved
        assert await silent(ws)


async def test_positions_on_events_only_skip_the_marks(server, exchange):
    """`updateInterval: "0"` (what the bot asks): a mark move is not a position event."""
    async with connect(server.ws_url + PRIVATE) as ws:
        await login(ws, key="key-sub1")
        await subscribe(ws, channel="positions", instType="SWAP",
                        extraParams='{"updateInterval": "0"}')
        await recv(ws)  # the snapshot
        exchange.set_mark(APT, D("5.3"))
        assert await silent(ws)
        exchange.change_margin("sub1", APT, Side.LONG, D(3))
        [row] = (await recv(ws))["data"]
        assert (row["margin"], row["markPx"]) == ("35", "5.3")


async def test_orders_push_live_fill_and_cancel(server, exchange):
    async with connect(server.ws_url + PRIVATE) as ws:
        await login(ws)
        ack = await subscribe(ws, channel="orders", instType="SWAP")
        assert ack["event"] == "subscribe"
        assert await silent(ws)  # no snapshot on the orders channel

        exchange.place_order("main", limit("rest1", OrderSide.BUY, Side.LONG, "10", "5"))
        live = await recv(ws)
        assert live["arg"] == {"channel": "orders", "instType": "SWAP",
                               "uid": numeric_id("main")}
        [row] = live["data"]
        assert (row["clOrdId"], row["state"], row["accFillSz"], row["px"]) == (
            "rest1", "live", "0", "5")
        exchange.set_mark(APT, D("4.99"))  # crosses the bid: it fills as maker
        [row] = (await recv(ws))["data"]
        assert (row["state"], row["fillSz"], row["fillPx"], row["accFillSz"]) == (
            "filled", "10", "5", "10")
        assert row["execType"] == "M" and row["tradeId"] and row["fillTime"].isdigit()
        assert row["fillFee"] == row["fee"] and row["fillFee"].startswith("-")

        exchange.place_order("main", limit("rest2", OrderSide.BUY, Side.LONG, "10", "4"))
        assert (await recv(ws))["data"][0]["state"] == "live"
        exchange.cancel_order("main", client_id="rest2")
        [row] = (await recv(ws))["data"]
        assert (row["clOrdId"], row["state"]) == ("rest2", "canceled")


async def test_an_order_placed_over_rest_is_pushed_live_then_filled(server, exchange):
    venue = OkxVenue("main", **credentials_of("main"), base_url=server.base_url,
                     timeout_seconds=2, retry=RetryPolicy(attempts=1))
    try:
        async with connect(server.ws_url + PRIVATE) as ws:
            await login(ws)
            await subscribe(ws, channel="orders", instType="SWAP", instId=APT)
            await venue.place_order(market("viaRest1", OrderSide.SELL, Side.LONG, "5",
                                           reduce_only=True))
            live, filled = (await recv(ws))["data"][0], (await recv(ws))["data"][0]
    finally:
        await venue.close()
    assert (live["clOrdId"], live["state"], live["fillSz"]) == ("viaRest1", "live", "")
    assert (filled["state"], filled["fillSz"], filled["execType"]) == ("filled", "5", "T")
    assert filled["ordId"] == live["ordId"] and filled["reduceOnly"] == "true"
    assert filled["fillPnl"] == filled["pnl"]


async def test_accounts_see_only_their_own_orders(server, exchange):
    async with connect(server.ws_url + PRIVATE) as ws:
        await login(ws, key="key-sub1")
        await subscribe(ws, channel="orders", instType="SWAP")
        exchange.place_order("main", limit("mine1", OrderSide.BUY, Side.LONG, "1", "4"))
        assert await silent(ws)
        exchange.place_order("sub1", limit("sub1a", OrderSide.BUY, Side.LONG, "1", "4"))
        assert (await recv(ws))["data"][0]["clOrdId"] == "sub1a"
    assert server.ws_messages[-1].key == "key-sub1"


# -- faults and shutdown -----------------------------------------------------------------


async def test_drop_streams_cuts_the_connection_without_a_close_frame(server):
    async with connect(server.ws_url + PUBLIC) as ws:
        await subscribe(ws, channel="mark-price", instId=APT)
        await recv(ws)
        server.drop_streams()
        with pytest.raises(ConnectionClosed):
            await recv(ws)
        assert ws.close_code == 1006  # abnormal closure: no close frame came


async def test_streams_down_refuses_upgrades_and_drops_open_streams(server):
    async with connect(server.ws_url + PUBLIC) as ws:
        server.streams_down(True)
        with pytest.raises(ConnectionClosed):
            await recv(ws)
    with pytest.raises(InvalidStatus) as refused:
        await connect(server.ws_url + PUBLIC)
    assert refused.value.response.status_code == 503
    server.streams_down(False)
    async with connect(server.ws_url + PUBLIC) as ws:
        await ws.send("ping")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "pong"


async def test_latency_delays_pushes_in_order(server, exchange):
    async with connect(server.ws_url + PUBLIC) as ws:
        await subscribe(ws, channel="mark-price", instId=APT)
        await recv(ws)
        exchange.faults.latency_seconds = 0.3
        started = time.monotonic()
        exchange.set_mark(APT, D("5.5"))
        await asyncio.sleep(0.05)
        exchange.set_mark(APT, D("5.6"))
        first = await recv(ws)
        waited = time.monotonic() - started
        second = await recv(ws)
    assert waited >= 0.3
    assert [first["data"][0]["markPx"], second["data"][0]["markPx"]] == ["5.5", "5.6"]


async def test_leaving_the_server_closes_open_streams(exchange):
    async with FakeOkxServer(exchange, KEYS) as server:
        ws = await connect(server.ws_url + PRIVATE)
        assert (await login(ws))["code"] == "0"  # no credentials: any signature
        await subscribe(ws, channel="positions", instType="ANY")
    with pytest.raises(ConnectionClosed):
        while True:  # the snapshot may still be buffered
            await recv(ws)
    assert ws.close_code == 1001  # going away
    assert server.errors == []


def test_engine_listeners_hear_changes_but_not_reads(exchange):
    heard: list[int] = []

    def listener() -> None:
        heard.append(1)

    exchange.add_listener(listener)
    exchange.set_mark(APT, D("5.3"))
    exchange.place_order("main", limit("l1", OrderSide.BUY, Side.LONG, "1", "4"))
    exchange.cancel_order("main", client_id="l1")
    assert len(heard) == 3
    exchange.open_orders("main")
    exchange.positions("main")
    exchange.get_order("main", client_id="l1")
    assert len(heard) == 3  # reads (and an expiry check with nothing due) are silent
    exchange.remove_listener(listener)
    exchange.tick()
    assert len(heard) == 3
