"""ccxt's websockets (ccxt.pro's watch methods) feeding the take-profit loop, the real bot
on the ccxt adapter against the fake Bitget server's channels: a tier crossed is closed
at the push, not at the next poll; a stream that goes down falls back to REST and comes
back, and no tier is missed or fired twice; a view that might be stale is never used; an
exchange ccxt cannot watch stays on REST."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest

import bot.venues.ccxt.stream
from bot.config import parse_config
from bot.domain import OrderRequest, OrderSide, OrderType, Side
from bot.venues.ccxt.stream import point_ws
from bot.venues.ccxt.venue import CcxtVenue
from bot.venues.paper.demo import new_exchange
from tests.botkit import FAST_FOLLOW, PAPER_EMPTY, USER, quiet, running
from tests.fakes.bitget_accounts import CREDENTIALS, KEYS, credentials_of
from tests.fakes.bitget_server import FakeBitgetServer
from tests.streamkit import closes, long_closed, until

APT_ID, APT = "APT-USDT-SWAP", "APT/USDT:USDT"
POSITIONS = "/api/v2/mix/position/all-position"
PLACE = "/api/v2/mix/order/place-order"


def long_on_main():
    """main holds APT long 100 @ 5 at 10x: +26% at 5.13 (tier 1), +36% at 5.18 (tier 2)."""
    exchange = new_exchange()
    exchange.market.freeze()
    exchange.add_account("main", D("1000"))
    exchange.add_account("sub1", D("1000"))
    exchange.seed_position("main", APT_ID, Side.LONG, D("100"), D("5"), D("10"))
    exchange.set_mark(APT_ID, D("5"))
    return exchange


def streaming_config(tmp_path, url: str, *, streams: bool = True):
    """main and sub1 on Bitget through ccxt; take-profit on main, its poll an hour apart:
    only the stream makes it look."""
    def account(name: str, role: str) -> dict:
        return {"name": name, "role": role, "venue": "ccxt", "exchange": "bitget",
                "base_url": url, "streams": streams, **credentials_of(name),
                "rules": {"take_profit": True, "hedge": False, "correction": False}}

    return quiet(parse_config({
        "language": "en", "telegram": {"allowed_user_ids": [USER]},
        "database": {"url": f"sqlite:///{tmp_path / 'bot.db'}"},
        "paper": {"state_path": str(tmp_path / "paper.json"), **PAPER_EMPTY},
        "accounts": [account("main", "main"), account("sub1", "sub")],
        "rules": {"close": FAST_FOLLOW}, "grids": []}))


async def test_a_tier_crossed_is_closed_at_the_push_without_a_poll(tmp_path):
    exchange = long_on_main()
    async with (FakeBitgetServer(exchange, KEYS, credentials=CREDENTIALS) as server,
                running(streaming_config(tmp_path, server.base_url)) as (app, _)):
        venue = app.venues["main"]
        await until(lambda: venue._stream.live)
        reads = len(server.requests_to(POSITIONS))
        exchange.set_mark(APT_ID, D("5.13"))
        await until(lambda: exchange.orders)
        assert closes(exchange) == [long_closed("main", "30")]
        # decided on the streamed position and mark: no positions read in between
        place = next(i for i, r in enumerate(server.requests) if r.path == PLACE)
        assert sum(r.path == POSITIONS for r in server.requests[:place]) == reads
        subscribed = [(m.path, arg.get("channel"))
                      for m in server.ws_messages if m.message.get("op") == "subscribe"
                      for arg in m.message["args"]]
        assert ("/v2/ws/private", "positions") in subscribed
        assert ("/v2/ws/private", "orders") in subscribed
        assert ("/v2/ws/public", "ticker") in subscribed


async def test_a_stream_down_falls_back_to_rest_and_back_no_tier_missed_or_twice(
        tmp_path, monkeypatch):
    monkeypatch.setattr(bot.venues.ccxt.stream, "BACKOFF_MAX", 1.0)  # (30 s live)
    exchange = long_on_main()
    async with (FakeBitgetServer(exchange, KEYS, credentials=CREDENTIALS) as server,
                running(streaming_config(tmp_path, server.base_url)) as (app, _)):
        venue = app.venues["main"]
        await until(lambda: venue._stream.live)
        logins = sum(m.message.get("op") == "login" for m in server.ws_messages)
        server.streams_down(True)
        await until(lambda: not venue._stream.live)
        # the price crosses tier 1 while the stream is down, and the poll is an hour
        # away: the REST read each failed watch wakes finds it
        exchange.set_mark(APT_ID, D("5.13"))
        await until(lambda: exchange.orders)
        assert closes(exchange) == [long_closed("main", "30")]
        server.streams_down(False)
        await until(lambda: venue._stream.live, timeout=40)
        assert sum(m.message.get("op") == "login" for m in server.ws_messages) > logins
        exchange.set_mark(APT_ID, D("5.18"))  # tier 2, over the stream again
        await until(lambda: len(exchange.orders) == 2)
        await until(lambda: venue._stream.live)
        server.drop_streams()  # a drop and a quick reconnect: nothing fires again
        await until(lambda: not venue._stream.live)
        await until(lambda: venue._stream.live, timeout=40)
        exchange.set_mark(APT_ID, D("5.181"))
        await asyncio.sleep(1.0)
        assert closes(exchange) == [long_closed("main", "30"), long_closed("main", "35")]
        [state] = app.store.rule_states(account="main", rule="take_profit")
        assert state.state["fired"] == 2


async def test_a_view_that_might_be_stale_is_not_used(tmp_path):
    exchange = long_on_main()
    async with FakeBitgetServer(exchange, KEYS, credentials=CREDENTIALS) as server:
        venue = CcxtVenue("main", "bitget", base_url=server.base_url,
                          **credentials_of("main"))
        venue.exchange.timeout_on_exit = 0
        changes: list[int] = []
        venue.watch(lambda: changes.append(1))
        stream = venue._stream
        try:
            await until(lambda: stream.live)
            [live] = await venue.positions()
            assert (live.size, live.mark_price, live.profit_rate) == (D(100), D(5), D(0))
            exchange.set_mark(APT_ID, D("5.1"))
            await until(lambda: stream.positions()[0].mark_price == D("5.1"))
            assert stream.positions()[0].profit_rate == D(20)  # (5.1 - 5) × 100 / 50
            [rest] = await venue._positions()  # the same numbers as REST's
            assert stream.positions() == [rest]
            stream.traded(APT)  # an order of ours: REST until its position is pushed
            assert stream.positions() is None
            exchange.place_order("main", _sell(D(10)))
            await until(lambda: stream.live)
            assert stream.positions()[0].size == D(90)
            stream.traded(APT)  # an order that ended unfilled changed nothing: live again
            exchange.place_order("main", _sell(D(10), "t2", price=D(9)))
            [resting] = exchange.open_orders("main")
            exchange.cancel_order("main", venue_id=resting.venue_id)
            await until(lambda: stream.live)
            mark = stream._marks[APT]
            stream._marks.pop(APT)  # a held symbol without a mark on this connection
            assert stream.positions() is None
            stream._marks[APT] = mark
            assert stream.live
            public = stream._client(f"mark:{APT}")
            public.lastPong = public.last_message_at = venue.exchange.milliseconds() - 60_000
            public.connectionEstablished -= 60_000  # silent for a minute
            assert stream.positions() is None
            assert [p.size for p in await venue.positions()] == [D(90)]  # read over REST
        finally:
            await venue.close()
        assert changes  # every push woke the rule loop


def _sell(size, client_id="t1", price=None):
    return OrderRequest(client_id=client_id, symbol=APT_ID, side=OrderSide.SELL,
                        position_side=Side.LONG,
                        type=OrderType.MARKET if price is None else OrderType.LIMIT,
                        size=size, price=price, reduce_only=True)


async def test_an_exchange_ccxt_cannot_watch_stays_on_rest(tmp_path):
    exchange = long_on_main()
    async with FakeBitgetServer(exchange, KEYS, credentials=CREDENTIALS) as server:
        venue = CcxtVenue("main", "bitget", base_url=server.base_url,
                          **credentials_of("main"))
        venue.exchange.timeout_on_exit = 0
        venue.exchange.has = {**venue.exchange.has, "watchPositions": False}
        try:
            assert not venue.can_stream
            venue.watch(lambda: None)  # nothing: no stream, no websocket
            assert venue._stream is None
            assert [p.size for p in await venue.positions()] == [D(100)]
            assert server.ws_messages == []
        finally:
            await venue.close()


def test_where_the_streams_are():
    api = {"mix": "https://api.bitget.com",
           "ws": {"public": "wss://ws.bitget.com/v2/ws/public"},
           "demo": {"private": "wss://wspap.bitget.com/v2/ws/private"}}
    assert point_ws(api, None, None) == api
    assert point_ws(api, None, "http://127.0.0.1:8080/")["ws"] == {
        "public": "ws://127.0.0.1:8080/v2/ws/public"}
    assert point_ws(api, None, "https://bg.example")["demo"] == {
        "private": "wss://bg.example/v2/ws/private"}
    assert point_ws(api, "wss://other:1/", "https://bg.example")["ws"] == {
        "public": "wss://other:1/v2/ws/public"}
    assert point_ws("wss://ws.okx.com:443/ws/v5", None, "http://h:1") == "ws://h:1/ws/v5"


@pytest.mark.parametrize("streams", [False])
async def test_streams_off_is_rest_only(tmp_path, streams):
    exchange = long_on_main()
    async with (FakeBitgetServer(exchange, KEYS, credentials=CREDENTIALS) as server,
                running(streaming_config(tmp_path, server.base_url, streams=streams))
                as (app, _)):
        assert app.venues["main"]._stream is None
        assert server.ws_messages == []
