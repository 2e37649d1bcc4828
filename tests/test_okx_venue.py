"""Contract tests: our OKX adapter over the REAL python-okx SDK against the fake OKX v5
server (tests/fakes/okx_server.py), which serves the paper engine. Signing, request
shapes, response parsing and error codes are all exercised; nothing leaves 127.0.0.1."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from bot.closing import execute_close, plan_close
from bot.config_rules import CloseSettings
from bot.domain import OrderRequest, OrderSide, OrderState, OrderType, Side, TimeInForce
from bot.execution import Executor, FollowSettings, client_id_for
from bot.venues.base import (
    AuthenticationFailed,
    BadPrecision,
    InsufficientMargin,
    OrderUnknown,
    RequestTimeout,
    VenueUnavailable,
)
from bot.venues.okx.venue import OkxVenue
from bot.venues.retry import RetryPolicy
from db.aio import AsyncStore
from tests.fakes.candle_marks import T0, marked_exchange
from tests.fakes.okx_accounts import (
    APT,
    CREDENTIALS,
    KEYS,
    RecordingSleep,
    credentials_of,
    seeded_exchange,
)
from tests.fakes.okx_server import FakeOkxServer

FAST = FollowSettings(timeout_seconds=2, poll_seconds=0.01, poll_max_seconds=0.05,
                      backoff_seconds=0.01)
RETRY = RetryPolicy(attempts=4, first_delay=0.01, max_delay=0.1)
TIMEOUT = 0.3  # seconds the adapter waits for an answer (the timeout tests wait this long)


@pytest.fixture
def exchange():
    return seeded_exchange()


@pytest.fixture
async def server(exchange):
    async with FakeOkxServer(exchange, KEYS, credentials=CREDENTIALS, demo=False) as srv:
        yield srv
    assert srv.errors == []  # the fake itself never failed


@pytest.fixture
def sleeps():
    return RecordingSleep()


def okx_venue(server, account="main", *, sleeps=None, demo=False):
    return OkxVenue(account, **credentials_of(account), demo=demo, base_url=server.base_url,
                    timeout_seconds=TIMEOUT, retry=RETRY, sleep=sleeps or RecordingSleep())


@pytest.fixture
async def venue(server, sleeps):
    venue = okx_venue(server, sleeps=sleeps)
    yield venue
    await venue.close()


def close_long(client_id, size, price=None, kind=OrderType.MARKET):
    return OrderRequest(client_id, APT, OrderSide.SELL, Side.LONG, kind, D(size), price,
                        reduce_only=True, time_in_force=TimeInForce.IOC)


async def test_positions_sizes_margins_and_profit_rates_are_exact(server, exchange, venue):
    held = {(p.symbol, p.side): p for p in await venue.positions()}
    assert set(held) == {(APT, Side.LONG), (APT, Side.SHORT)}
    long, short = held[(APT, Side.LONG)], held[(APT, Side.SHORT)]
    assert (long.size, long.entry_price, long.mark_price, long.margin, long.leverage,
            long.unrealized_pnl, long.profit_rate) == (
        D(100), D(5), D("5.2"), D(80), D(10), D(20), D(25))
    # the profit rate is OKX's uplRatio x 100
    assert (short.size, short.entry_price, short.margin, short.unrealized_pnl,
            short.profit_rate) == (D(30), D("5.3"), D(20), D(3), D(15))
    assert long.instrument.contract_value == D(1) and long.instrument.lot_size == D(1)
    [request] = server.requests_to("/api/v5/account/positions")
    assert request.account == "main" and request.headers["x-simulated-trading"] == "0"


async def test_a_sub_account_is_read_with_its_own_key(server):
    sub = okx_venue(server, "sub1")
    try:
        [position] = await sub.positions()
    finally:
        await sub.close()
    assert (position.account, position.side, position.size, position.margin) == (
        "sub1", Side.LONG, D(60), D(32))
    assert position.profit_rate == D("37.5")
    assert server.requests_to("/api/v5/account/positions")[-1].account == "sub1"


async def test_the_demo_flag_is_the_simulated_trading_header(server):
    demo = okx_venue(server, demo=True)
    try:
        with pytest.raises(AuthenticationFailed) as refused:
            await demo.positions()
    finally:
        await demo.close()
    assert refused.value.code == "50101"  # a demo request against a live server
    assert server.requests[-1].headers["x-simulated-trading"] == "1"


async def test_set_leverage_is_read_back(server, exchange, venue):
    assert await venue.set_leverage(APT, Side.LONG, D(20)) == D(20)
    [sent] = server.requests_to("/api/v5/account/set-leverage")
    assert sent.body == {"lever": "20", "mgnMode": "isolated", "instId": APT, "posSide": "long"}
    assert server.requests[-1].path == "/api/v5/account/leverage-info"
    long = next(p for p in exchange.positions("main") if p.side is Side.LONG)
    assert (long.leverage, long.margin) == (D(20), D(25))  # recomputed: 100 x 5 / 20
    short = next(p for p in exchange.positions("main") if p.side is Side.SHORT)
    assert short.leverage == D(10)  # the other side is left alone


async def test_margin_is_moved_out_and_read_back(server, exchange, venue):
    free = exchange.balance("main").free
    change = await venue.change_margin(APT, Side.LONG, D(-5))
    assert (change.amount, change.margin_after) == (D(-5), D(75))
    assert change.leverage_after == D(520) / D(75)  # notional at mark / margin
    [sent] = server.requests_to("/api/v5/account/position/margin-balance")
    assert sent.body == {"instId": APT, "posSide": "long", "type": "reduce", "amt": "5"}
    assert exchange.balance("main").free == free + 5


async def test_a_reduce_only_close_followed_to_filled(server, exchange, venue, store):
    settings = CloseSettings()
    position = next(p for p in await venue.positions() if p.side is Side.LONG)
    plan = plan_close(position, D(25), await venue.order_book(APT, settings.book_levels),
                      settings, datetime.now(UTC))
    action = store.create_action("close", "main", APT, "long", "command", {})
    executor = Executor(AsyncStore(store), client_prefix="t1", follow=FAST)

    result = await execute_close(executor, venue, action, plan, settings)

    [order] = exchange.orders.values()
    assert (order.account, order.side, order.position_side, order.size, order.reduce_only,
            order.state) == ("main", OrderSide.SELL, Side.LONG, D(25), True, OrderState.FILLED)
    [sent] = server.requests_to("/api/v5/trade/order", "POST")
    assert sent.body["clOrdId"] == client_id_for("t1", action, 1) == order.client_id
    assert (sent.body["tdMode"], sent.body["posSide"], sent.body["ordType"],
            sent.body["reduceOnly"]) == ("isolated", "long", "ioc", True)
    assert D(sent.body["px"]) == plan.orders[0].price  # bounded by the worst price
    engine_fills = exchange.account_fills("main", client_id=order.client_id)
    assert result.filled_size == D(25)
    assert result.fee == sum(f.fee for f in engine_fills) > 0  # paid: positive for us
    assert result.realized_pnl == sum(f.realized_pnl for f in engine_fills)
    assert [p.size for p in await venue.positions() if p.side is Side.LONG] == [D(75)]


async def test_an_oversized_open_is_51008_and_changes_nothing(exchange, venue):
    cash = exchange.accounts["main"].cash
    with pytest.raises(InsufficientMargin) as refused:
        await venue.place_order(OrderRequest("big1", APT, OrderSide.BUY, Side.LONG,
                                             OrderType.MARKET, D(5000)))
    assert refused.value.code == "51008" and "51008" in str(refused.value)
    assert exchange.orders == {}
    assert exchange.accounts["main"].cash == cash
    assert [p.size for p in exchange.positions("main")] == [D(100), D(30)]


async def test_a_size_off_the_lot_is_51121(exchange, venue):
    with pytest.raises(BadPrecision) as refused:
        await venue.place_order(close_long("lot1", "2.5", D("5.1")))
    assert refused.value.code == "51121"
    assert exchange.orders == {}


async def test_a_rate_limited_read_is_retried_with_backoff(server, venue, sleeps):
    server.fail_next("50011", times=2, path="/api/v5/account/positions")
    assert len(await venue.positions()) == 2
    assert sleeps.delays == [0.01, 0.02]
    assert len(server.requests_to("/api/v5/account/positions")) == 3


async def test_a_rate_limited_order_is_sent_again_once_and_placed_once(server, exchange, venue,
                                                                       sleeps):
    server.fail_next("50011", path="/api/v5/trade/order", method="POST")
    order = await venue.place_order(close_long("rl1", "10", D("5.1")))
    assert order.state is OrderState.FILLED
    assert len(server.requests_to("/api/v5/trade/order", "POST")) == 2
    assert sleeps.delays == [0.01]
    assert len(exchange.orders) == 1


async def test_a_busy_answer_to_an_order_is_not_blindly_resent(server, exchange, venue):
    server.fail_next("50013", path="/api/v5/trade/order", method="POST")
    with pytest.raises(VenueUnavailable) as busy:
        await venue.place_order(close_long("busy1", "10", D("5.1")))
    assert busy.value.code == "50013"
    assert len(server.requests_to("/api/v5/trade/order", "POST")) == 1
    assert exchange.orders == {}


async def test_a_timeout_after_accept_leaves_one_order_found_by_client_id(
        server, exchange, venue, store):
    exchange.faults.timeout_after_accept(account="main")
    with pytest.raises(RequestTimeout):
        await venue.place_order(close_long("to1", "10", D("5.1")))
    found = await venue.order_by_client_id(APT, "to1")
    assert (found.state, found.filled_size) == (OrderState.FILLED, D(10))

    exchange.faults.timeout_after_accept(account="main")
    action = store.create_action("close", "main", APT, "long", "command", {})
    executor = Executor(AsyncStore(store), client_prefix="t2", follow=FAST)
    outcome = await executor.order_step(venue, action, 1, "close", close_long("", "5", D("5.1")))
    assert (outcome.state, outcome.filled_size, outcome.error) == (OrderState.FILLED, D(5), None)
    assert len(exchange.orders) == 2  # one per step: the timeout did not cause a resend
    assert len(server.requests_to("/api/v5/trade/order", "POST")) == 2


async def test_an_unknown_client_id_is_order_unknown(venue):
    with pytest.raises(OrderUnknown) as unknown:
        await venue.order_by_client_id(APT, "nosuch1")
    assert unknown.value.code == "51603"


async def test_a_resting_close_is_cancelled_and_a_second_cancel_is_unknown(exchange, venue):
    exchange.faults.never_fill("main")
    order = await venue.place_order(close_long("rest1", "10", D("5.1"), OrderType.LIMIT))
    assert order.state is OrderState.LIVE
    assert [o.client_id for o in await venue.open_orders(APT)] == ["rest1"]
    cancelled = await venue.cancel_order(APT, client_id="rest1")
    assert (cancelled.state, cancelled.filled_size) == (OrderState.CANCELED, D(0))
    with pytest.raises(OrderUnknown) as again:
        await venue.cancel_order(APT, client_id="rest1")
    assert again.value.code == "51400"


async def test_a_resent_client_id_returns_the_existing_order(server, exchange, venue):
    first = await venue.place_order(close_long("dup1", "10", D("5.1")))
    again = await venue.place_order(close_long("dup1", "10", D("5.1")))
    assert again.venue_id == first.venue_id
    assert len(server.requests_to("/api/v5/trade/order", "POST")) == 1
    assert len(exchange.orders) == 1


async def test_fills_carry_our_fee_sign_and_the_realized_pnl(exchange, venue):
    await venue.place_order(close_long("f1", "10", D("5.1")))
    fills = await venue.fills(APT, client_id="f1")
    engine = exchange.account_fills("main", client_id="f1")
    assert [(f.size, f.price, f.fee, f.realized_pnl) for f in fills] == [
        (f.size, f.price, f.fee, f.realized_pnl) for f in engine]
    assert all(f.fee > 0 for f in fills)



async def test_candles_are_oldest_first_exact_and_their_bar_named_as_okx_does():
    async with FakeOkxServer(marked_exchange(), KEYS) as server:
        venue = okx_venue(server)
        try:
            bars = await venue.candles(APT, "5m", 3)
            hour = await venue.candles(APT, "1h", 1)
        finally:
            await venue.close()
    assert [(c.time, c.open, c.high, c.low, c.close) for c in bars] == [
        (T0, D("5.2"), D("5.3"), D("5.1"), D("5.25")),
        (T0 + timedelta(minutes=5), D("5.4"), D("5.45"), D("5.35"), D("5.35")),
        (T0 + timedelta(minutes=10), D("5.35"), D("5.35"), D("5.35"), D("5.35"))]
    assert [(c.time, c.open, c.high, c.low, c.close) for c in hour] == [
        (T0, D("5.2"), D("5.45"), D("5.1"), D("5.35"))]
    asked = [r.query for r in server.requests_to("/api/v5/market/candles")]
    assert asked == [{"instId": APT, "bar": "5m", "limit": "3"},
                     {"instId": APT, "bar": "1H", "limit": "1"}]


async def test_a_client_id_never_sent_is_not_asked_for_before_sending(server, venue):
    """Issue 16: the executor marks its first attempt `fresh`; a resend still asks first,
    so a finished order is never placed twice."""
    await venue.instruments()
    order = close_long("fresh1", "5", D("5.1"))
    await venue.place_order(dataclasses.replace(order, fresh=True))
    assert [r.method for r in server.requests if r.path == "/api/v5/trade/order"] == [
        "POST", "GET"]  # sent, then read: not asked for first
    await venue.place_order(order)  # the same id again, not fresh: found, not placed
    assert [r.method for r in server.requests if r.path == "/api/v5/trade/order"] == [
        "POST", "GET", "GET"]
