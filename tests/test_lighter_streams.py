"""Lighter's websocket feeding the take-profit loop, the real bot (and the real lighter-sdk
for REST) against the fake Lighter server: a tier crossed is closed at the push, not at
the next poll; a stream that goes down falls back to REST and comes back, and no tier is
missed or fired twice; a view that might be stale is never used."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal as D

import pytest

import bot.venues.lighter.stream
from bot.config import parse_config
from bot.domain import OrderRequest, OrderSide, OrderType, Side, TimeInForce
from bot.sizing import profit_rate
from bot.venues.lighter.stream import ws_base
from bot.venues.lighter.venue import LighterVenue
from tests.botkit import FAST_FOLLOW, USER, quiet, running
from tests.fakes.lighter_server import MARKETS, FakeLighterServer, lighter_exchange
from tests.streamkit import closes, long_closed, until

ACCOUNT, KEY_INDEX = 7, 4
ACCOUNT_PATH, SEND_PATH = "/api/v1/account", "/api/v1/sendTx"


@pytest.fixture(scope="module")
def api_key() -> str:
    from lighter.signer_client import create_api_key

    private_key, _, error = create_api_key()
    assert error is None
    return private_key


def long_on_lt():
    """lt holds BTC long 0.002 @ 94,000 at 10x (18.8 USDC margin): +25.5 % at 96,400
    (tier 1: 30 %), then +35.1 % at 97,300 (tier 2: 50 % of the rest)."""
    exchange = lighter_exchange({"BTC": D("95000"), "ETH": D("3000")})
    exchange.market.freeze()
    exchange.add_account("lt", D("1000"))
    exchange.seed_position("lt", "BTC", Side.LONG, D("0.002"), D("94000"), D("10"))
    return exchange


@contextlib.asynccontextmanager
async def streaming_bot(tmp_path, exchange, api_key):
    """The bot with take-profit on lt, its poll an hour apart: only the stream makes it
    look."""
    async with FakeLighterServer(exchange, {ACCOUNT: "lt"}, MARKETS) as server:
        config = quiet(parse_config({
            "language": "en",
            "telegram": {"allowed_user_ids": [USER]},
            "database": {"url": f"sqlite:///{tmp_path / 'bot.db'}"},
            "accounts": [{"name": "lt", "venue": "lighter", "role": "main",
                          "api_key": api_key, "account_index": ACCOUNT,
                          "api_key_index": KEY_INDEX, "base_url": server.base_url,
                          "streams": True,
                          "rules": {"take_profit": True, "hedge": False,
                                    "correction": False, "watcher": "off"}}],
            "rules": {"close": FAST_FOLLOW},
        }))
        async with running(config) as (app, _):
            yield app, server


async def test_a_tier_crossed_is_closed_at_the_push_without_a_poll(tmp_path, api_key):
    exchange = long_on_lt()
    async with streaming_bot(tmp_path, exchange, api_key) as (app, server):
        venue = app.venues["lt"]
        await until(lambda: venue._stream is not None and venue._stream.live)
        reads = len(server.requests_to(ACCOUNT_PATH))
        exchange.set_mark("BTC", D("96400"))
        await until(lambda: exchange.orders)
        assert closes(exchange) == [long_closed("lt", "0.0006")]
        # decided on the streamed position and mark: no account read before the order
        first_send = next(i for i, r in enumerate(server.requests) if r.path == SEND_PATH)
        assert sum(r.path == ACCOUNT_PATH for r in server.requests[:first_send]) == reads
        subscribed = [m.message.get("channel") for m in server.ws_messages
                      if m.message.get("type") == "subscribe"]
        assert f"account_all/{ACCOUNT}" in subscribed and "market_stats/1" in subscribed
    assert server.errors == []


async def test_a_stream_down_falls_back_to_rest_and_back_no_tier_missed_or_twice(
        tmp_path, api_key, monkeypatch):
    monkeypatch.setattr(bot.venues.lighter.stream, "BACKOFF_MAX", 2.0)  # (30 s live)
    exchange = long_on_lt()
    async with streaming_bot(tmp_path, exchange, api_key) as (app, server):
        venue = app.venues["lt"]
        await until(lambda: venue._stream is not None and venue._stream.live)
        subscribes = len(server.ws_messages)
        server.streams_down(True)
        await until(lambda: not venue._stream.live)
        # the price crosses tier 1 while the stream is down, and the poll is an hour
        # away: the REST read each reconnect attempt wakes finds it
        exchange.set_mark("BTC", D("96400"))
        await until(lambda: exchange.orders)
        assert closes(exchange) == [long_closed("lt", "0.0006")]
        server.streams_down(False)
        await until(lambda: venue._stream.live)
        assert len(server.ws_messages) > subscribes  # subscribed again
        exchange.set_mark("BTC", D("97300"))  # tier 2, over the stream again
        await until(lambda: len(exchange.orders) == 2)
        server.drop_streams()  # a drop and a quick reconnect: nothing fires again
        await until(lambda: not venue._stream.live)
        await until(lambda: venue._stream.live)
        exchange.set_mark("BTC", D("97310"))
        await asyncio.sleep(1.0)
        assert closes(exchange) == [long_closed("lt", "0.0006"), long_closed("lt", "0.0007")]
        [state] = app.store.rule_states(account="lt", rule="take_profit")
        assert state.state["fired"] == 2
    assert server.errors == []


async def test_a_view_that_might_be_stale_is_not_used(api_key):
    exchange = long_on_lt()
    async with FakeLighterServer(exchange, {ACCOUNT: "lt"}, MARKETS) as server:
        venue = LighterVenue("lt", api_key=api_key, account_index=ACCOUNT,
                             api_key_index=KEY_INDEX, base_url=server.base_url)
        assert venue.ws_url == server.ws_url
        changes: list[int] = []
        venue.watch(lambda: changes.append(1))
        stream = venue._stream
        try:
            await until(lambda: stream.live)
            [live] = await venue.positions()
            assert (live.size, live.mark_price) == (D("0.002"), D(95000))
            exchange.set_mark("BTC", D("95100"))
            await until(lambda: stream.positions()[0].mark_price == D(95100))
            assert stream.positions()[0].profit_rate == profit_rate(D("2.2"), D("18.8"))
            stream.traded("BTC")  # an order of ours: REST until its position is pushed
            assert stream.positions() is None
            exchange.place_order("lt", _sell(D("0.0005")))
            await until(lambda: stream.live)
            assert stream.positions()[0].size == D("0.0015")
            stream._marks.clear()  # a held market without a mark on this connection
            assert stream.positions() is None
            stream._marks[1] = D(95100)
            assert stream.live
            stream._heard -= 60  # silent for a minute
            assert stream.positions() is None
            assert [p.size for p in await venue.positions()] == [D("0.0015")]  # REST
        finally:
            await venue.close()
        assert changes  # every push woke the rule loop
    assert server.errors == []


async def test_writes_that_change_no_position_settle_without_a_push(api_key):
    """A leverage already set, or an order that ends unfilled, is never pushed: the venue
    settles it from what it read back, and the stream is live again."""
    exchange = long_on_lt()
    async with FakeLighterServer(exchange, {ACCOUNT: "lt"}, MARKETS) as server:
        venue = LighterVenue("lt", api_key=api_key, account_index=ACCOUNT,
                             api_key_index=KEY_INDEX, base_url=server.base_url)
        venue.watch(lambda: None)
        stream = venue._stream
        try:
            await until(lambda: stream.live)
            assert await venue.set_leverage("BTC", Side.LONG, D(10)) == D(10)
            assert stream.live
            await venue.place_order(OrderRequest(
                "nofill1", "BTC", OrderSide.BUY, Side.LONG, OrderType.LIMIT, D("0.001"),
                D("90000"), time_in_force=TimeInForce.IOC))
            assert stream.positions() is None
            order = await venue.order_by_client_id("BTC", "nofill1")
            assert order.state.is_final and order.filled_size == 0
            assert stream.live
            await venue.set_leverage("BTC", Side.LONG, D(5))  # a change: pushed
            await until(lambda: stream.live)
            assert stream.positions()[0].leverage == D(5)
        finally:
            await venue.close()
    assert server.errors == []


def _sell(size):
    return OrderRequest(client_id="t1", symbol="BTC", side=OrderSide.SELL,
                        position_side=Side.LONG, type=OrderType.MARKET, size=size,
                        reduce_only=True, time_in_force=TimeInForce.IOC)


def test_where_the_stream_is():
    assert ws_base(None, None) == "wss://mainnet.zklighter.elliot.ai"
    assert ws_base(None, "https://mainnet.zklighter.elliot.ai") == \
        "wss://mainnet.zklighter.elliot.ai"
    assert ws_base(None, "http://127.0.0.1:8080/") == "ws://127.0.0.1:8080"
    assert ws_base("wss://other:1/", "https://lighter.example") == "wss://other:1"


def test_ws_url_is_accepted_for_lighter_and_reaches_the_venue(api_key):
    from bot.venues.factory import _network_venue

    config = parse_config({
        "telegram": {"allowed_user_ids": [USER]},
        "accounts": [{"name": "lt", "venue": "lighter", "api_key": api_key,
                      "account_index": ACCOUNT, "api_key_index": KEY_INDEX,
                      "ws_url": "wss://lighter.example/"}]})
    venue = _network_venue(config.accounts[0], {})
    assert venue.ws_url == "wss://lighter.example"
