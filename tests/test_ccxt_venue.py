"""Contract tests: our ccxt adapter over the REAL ccxt `okx` class (async) against the
fake OKX v5 server, which serves the paper engine. Bitget speaks another wire format;
what is exchange-neutral in the adapter (hedge mode, reduce-only, isolated margin,
client ids, precision, error mapping, retries) is exercised here through OKX."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from bot.closing import execute_close, plan_close
from bot.config_rules import CloseSettings
from bot.domain import OrderRequest, OrderSide, OrderState, OrderType, Side, TimeInForce
from bot.execution import Executor, FollowSettings, client_id_for
from bot.venues.base import (
    BadPrecision,
    InsufficientMargin,
    OrderUnknown,
    RequestTimeout,
    VenueUnavailable,
)
from bot.venues.ccxt.venue import CcxtVenue
from bot.venues.retry import RetryPolicy
from tests.fakes.okx_accounts import (
    CREDENTIALS,
    KEYS,
    RecordingSleep,
    credentials_of,
    seeded_exchange,
)
from tests.fakes.okx_server import FakeOkxServer

APT = "APT/USDT:USDT"  # ccxt's unified symbol of APT-USDT-SWAP
BATCH = "/api/v5/trade/batch-orders"  # where ccxt's okx create_order posts by default
FAST = FollowSettings(timeout_seconds=2, poll_seconds=0.01, poll_max_seconds=0.05,
                      backoff_seconds=0.01)
RETRY = RetryPolicy(attempts=4, first_delay=0.01, max_delay=0.1)


@pytest.fixture
def exchange():
    return seeded_exchange()


@pytest.fixture
async def server(exchange):
    async with FakeOkxServer(exchange, KEYS, credentials=CREDENTIALS, demo=False) as srv:
        yield srv
    assert srv.errors == []


@pytest.fixture
def sleeps():
    return RecordingSleep()


def ccxt_venue(server, account="main", *, sleeps=None, demo=False):
    venue = CcxtVenue(account, "okx", **credentials_of(account), demo=demo,
                      base_url=server.base_url, timeout_seconds=0.3, retry=RETRY,
                      sleep=sleeps or RecordingSleep(), client_rate_limit=False)
    # ccxt waits 250 ms on close for TLS connections to wind down; this is plain HTTP.
    venue.exchange.timeout_on_exit = 0
    return venue


@pytest.fixture
async def venue(server, sleeps):
    venue = ccxt_venue(server, sleeps=sleeps)
    yield venue
    await venue.close()


def close_long(client_id, size, price=None, kind=OrderType.MARKET):
    return OrderRequest(client_id, APT, OrderSide.SELL, Side.LONG, kind, D(size), price,
                        reduce_only=True, time_in_force=TimeInForce.IOC)


async def test_markets_become_instruments_in_contracts(venue):
    apt = await venue.instrument(APT)
    assert (apt.base, apt.contract_value, apt.lot_size, apt.min_size, apt.tick_size,
            apt.max_leverage) == ("APT", D(1), D(1), D(1), D("0.001"), D(50))
    btc = await venue.instrument("BTC/USDT:USDT")
    assert (btc.contract_value, btc.lot_size, btc.tick_size) == (D("0.01"), D("0.01"), D("0.1"))


async def test_positions_sizes_margins_and_profit_rates_are_exact(server, venue):
    held = {p.side: p for p in await venue.positions()}
    long, short = held[Side.LONG], held[Side.SHORT]
    assert (long.symbol, long.size, long.entry_price, long.mark_price, long.margin,
            long.leverage, long.unrealized_pnl, long.profit_rate) == (
        APT, D(100), D(5), D("5.2"), D(80), D(10), D(20), D(25))
    assert (short.size, short.margin, short.unrealized_pnl, short.profit_rate) == (
        D(30), D(20), D(3), D(15))
    # outside sandbox mode ccxt's load_markets also asks for the currencies (private)
    assert server.requests_to("/api/v5/asset/currencies")[0].account == "main"


async def test_demo_is_sandbox_mode_with_the_base_url_kept(exchange):
    async with FakeOkxServer(exchange, KEYS, credentials=CREDENTIALS, demo=True) as server:
        demo = ccxt_venue(server, "sub1", demo=True)
        try:
            [position] = await demo.positions()
        finally:
            await demo.close()
    assert (position.account, position.size, position.margin, position.profit_rate) == (
        "sub1", D(60), D(32), D("37.5"))
    private = [r for r in server.requests if r.account is not None]
    assert {r.headers.get("x-simulated-trading") for r in private} == {"1"}
    assert server.requests_to("/api/v5/asset/currencies") == []  # skipped in sandbox


async def test_set_leverage_is_read_back(server, exchange, venue):
    assert await venue.set_leverage(APT, Side.SHORT, D(5)) == D(5)
    [sent] = server.requests_to("/api/v5/account/set-leverage")
    assert sent.body == {"lever": 5, "mgnMode": "isolated", "instId": "APT-USDT-SWAP",
                         "posSide": "short"}
    assert server.requests_to("/api/v5/account/leverage-info")
    short = next(p for p in exchange.positions("main") if p.side is Side.SHORT)
    assert (short.leverage, short.margin) == (D(5), D("31.8"))  # 30 x 5.3 / 5


async def test_margin_is_moved_out_and_read_back(server, exchange, venue):
    change = await venue.change_margin(APT, Side.LONG, D(-5))
    assert (change.margin_after, change.leverage_after) == (D(75), D(520) / D(75))
    [sent] = server.requests_to("/api/v5/account/position/margin-balance")
    assert sent.body == {"instId": "APT-USDT-SWAP", "posSide": "long", "type": "reduce",
                         "amt": "5"}
    long = next(p for p in exchange.positions("main") if p.side is Side.LONG)
    assert long.margin == D(75)


async def test_a_reduce_only_close_followed_to_filled(server, exchange, venue, store):
    settings = CloseSettings()
    position = next(p for p in await venue.positions() if p.side is Side.LONG)
    plan = plan_close(position, D(25), await venue.order_book(APT, settings.book_levels),
                      settings, datetime.now(UTC))
    action = store.create_action("close", "main", APT, "long", "command", {})
    executor = Executor(store, client_prefix="t1", follow=FAST)

    result = await execute_close(executor, venue, action, plan, settings)

    [order] = exchange.orders.values()
    assert (order.side, order.position_side, order.size, order.reduce_only, order.state) == (
        OrderSide.SELL, Side.LONG, D(25), True, OrderState.FILLED)
    [sent] = server.requests_to(BATCH)
    [body] = sent.body
    assert body["clOrdId"] == client_id_for("t1", action, 1) == order.client_id
    assert (body["tdMode"], body["posSide"], body["reduceOnly"], body["ordType"],
            body["sz"]) == ("isolated", "long", True, "ioc", "25")
    assert D(body["px"]) == plan.orders[0].price
    engine_fills = exchange.account_fills("main", client_id=order.client_id)
    assert result.filled_size == D(25)
    assert result.fee == sum(f.fee for f in engine_fills) > 0
    assert result.realized_pnl == sum(f.realized_pnl for f in engine_fills)
    assert [p.size for p in await venue.positions() if p.side is Side.LONG] == [D(75)]


async def test_an_oversized_open_is_51008_and_changes_nothing(exchange, venue):
    cash = exchange.accounts["main"].cash
    with pytest.raises(InsufficientMargin) as refused:
        await venue.place_order(OrderRequest("big1", APT, OrderSide.BUY, Side.LONG,
                                             OrderType.MARKET, D(5000)))
    assert refused.value.code == "51008"
    assert exchange.orders == {}
    assert exchange.accounts["main"].cash == cash


async def test_a_size_off_the_lot_is_refused_before_ccxt_could_truncate_it(server, exchange,
                                                                          venue):
    with pytest.raises(BadPrecision):
        await venue.place_order(close_long("lot1", "2.5", D("5.1")))
    assert server.requests_to(BATCH) == []  # ccxt would have sent "2"
    exchange.faults.reject_orders("51121", account="main")
    with pytest.raises(BadPrecision) as refused:  # and the venue's own code maps the same
        await venue.place_order(close_long("lot2", "2", D("5.1")))
    assert refused.value.code == "51121"
    assert exchange.orders == {}


async def test_a_rate_limited_read_is_retried_with_backoff(server, venue, sleeps):
    await venue.instruments()
    server.fail_next("50011", times=2, path="/api/v5/account/positions")
    assert len(await venue.positions()) == 2
    assert sleeps.delays == [0.01, 0.02]
    assert len(server.requests_to("/api/v5/account/positions")) == 3


async def test_a_rate_limited_order_is_sent_again_and_placed_once(server, exchange, venue):
    server.fail_next("50011", path=BATCH)
    order = await venue.place_order(close_long("rl1", "10", D("5.1")))
    assert (order.state, order.filled_size) == (OrderState.FILLED, D(10))
    assert len(server.requests_to(BATCH)) == 2
    assert len(exchange.orders) == 1


async def test_a_busy_answer_to_an_order_is_not_blindly_resent(server, exchange, venue):
    server.fail_next("50013", path=BATCH)
    with pytest.raises(VenueUnavailable) as busy:
        await venue.place_order(close_long("busy1", "10", D("5.1")))
    assert busy.value.code == "50013"
    assert len(server.requests_to(BATCH)) == 1


async def test_a_timeout_after_accept_leaves_one_order_found_by_client_id(
        server, exchange, venue, store):
    await venue.instruments()
    exchange.faults.timeout_after_accept(account="main")
    action = store.create_action("close", "main", APT, "long", "command", {})
    executor = Executor(store, client_prefix="t2", follow=FAST)
    outcome = await executor.order_step(venue, action, 1, "close", close_long("", "5", D("5.1")))
    assert (outcome.state, outcome.filled_size, outcome.error) == (OrderState.FILLED, D(5), None)
    assert len(exchange.orders) == 1
    assert len(server.requests_to(BATCH)) == 1
    with pytest.raises(RequestTimeout):  # what the executor saw first
        exchange.faults.timeout_after_accept(account="main")
        await venue.place_order(close_long("to2", "5", D("5.1")))


async def test_an_unknown_client_id_is_order_unknown(venue):
    with pytest.raises(OrderUnknown) as unknown:
        await venue.order_by_client_id(APT, "nosuch1")
    assert unknown.value.code == "51603"


async def test_a_resting_close_is_cancelled(exchange, venue):
    exchange.faults.never_fill("main")
    order = await venue.place_order(close_long("rest1", "10", D("5.1"), OrderType.LIMIT))
    assert order.state is OrderState.LIVE
    assert [o.client_id for o in await venue.open_orders(APT)] == ["rest1"]
    cancelled = await venue.cancel_order(APT, client_id="rest1")
    assert (cancelled.state, cancelled.filled_size) == (OrderState.CANCELED, D(0))


async def test_fills_carry_our_fee_sign_and_the_realized_pnl(exchange, venue):
    await venue.place_order(close_long("f1", "10", D("5.1")))
    fills = await venue.fills(APT, client_id="f1")
    engine = exchange.account_fills("main", client_id="f1")
    assert [(f.size, f.price, f.fee, f.realized_pnl, f.position_side) for f in fills] == [
        (f.size, f.price, f.fee, f.realized_pnl, Side.LONG) for f in engine]
    assert all(f.fee > 0 for f in fills)
