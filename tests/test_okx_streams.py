"""OKX's websockets feeding the take-profit loop (issue 16), the real bot against the fake
OKX server's channels: a tier crossed is closed at the push, not at the next poll; a
stream that goes down falls back to REST and comes back, and no tier is missed or fired
twice; a view that might be stale is never used."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal as D

import pytest

import bot.venues.okx.stream
from bot.domain import OrderRequest, OrderSide, OrderType, Side
from bot.venues.okx.stream import at_mark, ws_base
from bot.venues.okx.venue import OkxVenue
from bot.venues.paper.demo import new_exchange
from tests.botkit import FAST_FOLLOW, PAPER_EMPTY, make_config, quiet, running
from tests.fakes.okx_accounts import CREDENTIALS, KEYS, credentials_of
from tests.fakes.okx_server import FakeOkxServer
from tests.streamkit import closes, long_closed, until

APT = "APT-USDT-SWAP"
POSITIONS = "/api/v5/account/positions"


def long_on_main():
    """main holds APT long 100 @ 5 at 10x: +26% at 5.13 (tier 1), +36% at 5.18 (tier 2)."""
    exchange = new_exchange()
    exchange.market.freeze()
    exchange.add_account("main", D("1000"))
    exchange.add_account("sub1", D("1000"))
    exchange.seed_position("main", APT, Side.LONG, D("100"), D("5"), D("10"))
    exchange.set_mark(APT, D("5"))
    return exchange


def streaming_config(tmp_path, url: str):
    """Take-profit on main, its poll an hour apart: only the stream makes it look."""
    config = make_config(tmp_path, okx_url=url, streams=True, paper=PAPER_EMPTY,
                         close=FAST_FOLLOW, rules={"take_profit": True})
    return quiet(config)


async def test_a_tier_crossed_is_closed_at_the_push_without_a_poll(tmp_path):
    exchange = long_on_main()
    async with (FakeOkxServer(exchange, KEYS, credentials=CREDENTIALS) as server,
                running(streaming_config(tmp_path, server.base_url)) as (app, _)):
        venue = app.venues["main"]
        await until(lambda: venue._stream.live)
        reads = sum(r.path == POSITIONS for r in server.requests)
        exchange.set_mark(APT, D("5.13"))
        await until(lambda: exchange.orders)
        assert closes(exchange) == [long_closed("main", "30")]
        # decided on the streamed position and mark: no positions read in between
        assert sum(r.path == POSITIONS for r in server.requests[:_order_index(server)]) \
            == reads
        # what the stream subscribed: positions and orders with the key, marks of APT
        subscribed = [(m.path, arg.get("channel"))
                      for m in server.ws_messages if m.message.get("op") == "subscribe"
                      for arg in m.message["args"]]
        assert ("/ws/v5/private", "positions") in subscribed
        assert ("/ws/v5/private", "orders") in subscribed
        assert ("/ws/v5/public", "mark-price") in subscribed


def _order_index(server) -> int:
    return next(i for i, r in enumerate(server.requests)
                if r.method == "POST" and r.path == "/api/v5/trade/order")


async def test_a_stream_down_falls_back_to_rest_and_back_no_tier_missed_or_twice(
        tmp_path, monkeypatch):
    monkeypatch.setattr(bot.venues.okx.stream, "BACKOFF_MAX", 2.0)  # (30 s live)
    exchange = long_on_main()
    async with (FakeOkxServer(exchange, KEYS, credentials=CREDENTIALS) as server,
                running(streaming_config(tmp_path, server.base_url)) as (app, _)):
        venue = app.venues["main"]
        await until(lambda: venue._stream.live)
        logins = sum(m.message.get("op") == "login" for m in server.ws_messages)
        server.streams_down(True)
        await until(lambda: not venue._stream.live)
        # the price crosses tier 1 while the stream is down, and the poll is an hour
        # away: the REST read each reconnect attempt wakes finds it
        exchange.set_mark(APT, D("5.13"))
        await until(lambda: exchange.orders)
        assert closes(exchange) == [long_closed("main", "30")]
        server.streams_down(False)
        await until(lambda: venue._stream.live)
        assert sum(m.message.get("op") == "login" for m in server.ws_messages) > logins
        exchange.set_mark(APT, D("5.18"))  # tier 2, over the stream again
        await until(lambda: len(exchange.orders) == 2)
        server.drop_streams()  # a drop and a quick reconnect: nothing fires again
        await until(lambda: not venue._stream.live)
        await until(lambda: venue._stream.live)
        exchange.set_mark(APT, D("5.181"))
        await asyncio.sleep(1.0)
        assert closes(exchange) == [long_closed("main", "30"), long_closed("main", "35")]
        [state] = app.store.rule_states(account="main", rule="take_profit")
        assert state.state["fired"] == 2


@contextlib.asynccontextmanager
async def main_watched():
    """main's APT long on the fake OKX server, its venue streaming: (the exchange, the
    venue, a list growing by one at every change the stream heard)."""
    exchange = long_on_main()
    async with FakeOkxServer(exchange, KEYS, credentials=CREDENTIALS) as server:
        venue = OkxVenue("main", base_url=server.base_url, **credentials_of("main"))
        changes: list[int] = []
        venue.watch(lambda: changes.append(1))
        try:
            yield exchange, venue, changes
        finally:
            await venue.close()


async def test_a_view_that_might_be_stale_is_not_used(tmp_path):
    async with main_watched() as (exchange, venue, changes):
        stream = venue._stream
        await until(lambda: stream.live)
        [live] = await venue.positions()
        assert (live.size, live.mark_price, live.profit_rate) == (D(100), D(5), D(0))
        exchange.set_mark(APT, D("5.1"))
        await until(lambda: stream.positions()[0].mark_price == D("5.1"))
        assert stream.positions()[0].profit_rate == D(20)  # (5.1 - 5) × 100 / 50
        stream.traded(APT)  # an order of ours: REST until its position is pushed
        assert stream.positions() is None
        exchange.place_order("main", _sell(D(10)))
        await until(lambda: stream.live)
        assert stream.positions()[0].size == D(90)
        stream._marks.clear()  # a held instrument without a mark on this connection
        assert stream.positions() is None
        stream._marks[APT] = D("5.1")
        stream._heard["/ws/v5/public"] -= 60  # silent for a minute
        assert stream.positions() is None
        assert [p.size for p in await venue.positions()] == [D(90)]  # read over REST
        assert changes  # every push woke the rule loop


async def test_an_account_no_longer_watched_stops_streaming_and_reads_rest(tmp_path):
    """A cluster process that lost an account stops its stream; the new holder streams."""
    async with main_watched() as (exchange, venue, changes):
        await until(lambda: venue._stream is not None and venue._stream.live)
        await venue.unwatch()
        heard = len(changes)
        exchange.set_mark(APT, D("5.1"))
        [position] = await venue.positions()  # over REST: the stream is gone
        await asyncio.sleep(0.3)

    assert venue._stream is None and position.mark_price == D("5.1")
    assert len(changes) == heard, "nothing pushed once it stopped"


def _sell(size):
    return OrderRequest(client_id="t1", symbol=APT, side=OrderSide.SELL,
                        position_side=Side.LONG, type=OrderType.MARKET, size=size,
                        reduce_only=True)


def test_where_the_streams_are():
    assert ws_base(None, None, False) == "wss://ws.okx.com:8443"
    assert ws_base(None, None, True) == "wss://wspap.okx.com:8443"
    assert ws_base(None, "http://127.0.0.1:8080/", False) == "ws://127.0.0.1:8080"
    assert ws_base(None, "https://okx.example", False) == "wss://okx.example"
    assert ws_base("wss://other:1/", "https://okx.example", False) == "wss://other:1"


@pytest.mark.parametrize(("mark", "rate"), [("5.2", "40"), ("4.9", "-20"), ("5", "0")])
def test_a_position_at_a_newer_mark_keeps_the_venues_rate_definition(mark, rate):
    from bot.domain import Position
    from bot.venues.paper.demo import INSTRUMENTS

    apt = next(i for i in INSTRUMENTS if i.symbol == APT)
    # OKX said +25% at 5.1 on 100 ct with 10 USDT PnL: its base is 40 USDT, not the margin
    row = Position(account="main", instrument=apt, side=Side.LONG, size=D(100),
                   entry_price=D(5), mark_price=D("5.1"), margin=D(55), leverage=D(10),
                   unrealized_pnl=D(10), profit_rate=D(25))
    moved = at_mark(row, D(mark))
    assert moved.profit_rate == D(rate) * D("1.25")
    assert moved.unrealized_pnl == (D(mark) - 5) * 100

