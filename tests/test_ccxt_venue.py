"""Contract tests: our ccxt adapter over the REAL ccxt `okx` and `bitget` classes (async)
against the fake OKX v5 and Bitget v2 servers, which serve the same paper engine and the
same seeded accounts. What is exchange-neutral in the adapter (hedge mode, reduce-only,
isolated margin, client ids, precision, error mapping, retries) runs through both; what
each wire says is asserted per exchange. Bitget's own particulars come last."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import ccxt.async_support as ccxt
import pytest

from bot.closing import execute_close, plan_close
from bot.config_rules import CloseSettings
from bot.domain import OrderRequest, OrderSide, OrderState, OrderType, Side, TimeInForce
from bot.execution import Executor, FollowSettings, client_id_for
from bot.sizing import profit_rate
from bot.venues.base import (
    BadPrecision,
    InsufficientMargin,
    OrderUnknown,
    RequestTimeout,
    VenueUnavailable,
)
from bot.venues.ccxt import parse
from bot.venues.ccxt.venue import CcxtVenue
from bot.venues.retry import RetryPolicy
from db.aio import AsyncStore
from tests.fakes import bitget_accounts, okx_accounts
from tests.fakes.bitget_server import FakeBitgetServer
from tests.fakes.candle_marks import T0, marked_exchange
from tests.fakes.okx_accounts import RecordingSleep, seeded_exchange
from tests.fakes.okx_server import FakeOkxServer

APT = "APT/USDT:USDT"  # ccxt's unified symbol of the paper venue's APT-USDT-SWAP
BTC = "BTC/USDT:USDT"
FAST = FollowSettings(timeout_seconds=2, poll_seconds=0.01, poll_max_seconds=0.05,
                      backoff_seconds=0.01)
RETRY = RetryPolicy(attempts=4, first_delay=0.01, max_delay=0.1)
BG = "/api/v2/mix"


@dataclass(frozen=True)
class Wire:
    """One exchange as its fake serves it: where ccxt sends what, and its codes."""

    server: Any  # FakeOkxServer or FakeBitgetServer
    accounts: Any  # okx_accounts or bitget_accounts: KEYS, CREDENTIALS, credentials_of
    place: str  # where create_order posts
    positions: str
    rate_limited: str
    busy: str
    insufficient: str
    off_the_lot: str
    no_such_order: str
    demo_header: str

    def serve(self, exchange, *, demo=None):
        return self.server(exchange, self.accounts.KEYS,
                           credentials=self.accounts.CREDENTIALS, demo=demo)


WIRES = {
    # ccxt's okx create_order posts to batch-orders by default
    "okx": Wire(FakeOkxServer, okx_accounts, "/api/v5/trade/batch-orders",
                "/api/v5/account/positions", "50011", "50013", "51008", "51121", "51603",
                "x-simulated-trading"),
    "bitget": Wire(FakeBitgetServer, bitget_accounts, f"{BG}/order/place-order",
                   f"{BG}/position/all-position", "429", "40604", "40762", "40808", "40109",
                   "PAPTRADING"),
}


@pytest.fixture(params=sorted(WIRES))
def exchange_id(request):
    return request.param


@pytest.fixture
def wire(exchange_id):
    return WIRES[exchange_id]


@pytest.fixture
def exchange():
    return seeded_exchange()


@pytest.fixture
async def server(exchange, wire):
    async with wire.serve(exchange, demo=False) as srv:
        yield srv
    assert srv.errors == []


@pytest.fixture
def sleeps():
    return RecordingSleep()


def ccxt_venue(server, exchange_id, account="main", *, sleeps=None, demo=False):
    creds = WIRES[exchange_id].accounts.credentials_of(account)
    venue = CcxtVenue(account, exchange_id, **creds, demo=demo, base_url=server.base_url,
                      timeout_seconds=0.3, retry=RETRY, sleep=sleeps or RecordingSleep(),
                      client_rate_limit=False)
    # ccxt waits 250 ms on close for TLS connections to wind down; this is plain HTTP.
    venue.exchange.timeout_on_exit = 0
    return venue


@pytest.fixture
async def venue(server, exchange_id, sleeps):
    venue = ccxt_venue(server, exchange_id, sleeps=sleeps)
    yield venue
    await venue.close()


def close_long(client_id, size, price=None, kind=OrderType.MARKET):
    return OrderRequest(client_id, APT, OrderSide.SELL, Side.LONG, kind, D(size), price,
                        reduce_only=True, time_in_force=TimeInForce.IOC)


# -- exchange-neutral -------------------------------------------------------------------


async def test_markets_become_instruments_in_contracts(exchange_id, venue):
    apt = await venue.instrument(APT)
    assert (apt.base, apt.contract_value, apt.lot_size, apt.min_size, apt.tick_size,
            apt.max_leverage) == ("APT", D(1), D(1), D(1), D("0.001"), D(50))
    btc = await venue.instrument(BTC)
    # OKX: contracts of 0.01 BTC in lots of 0.01; Bitget: contracts of one coin, sized
    # in its step of 0.0001 BTC (= 0.01 x 0.01): the same market either way.
    assert (btc.contract_value, btc.lot_size, btc.tick_size) == {
        "okx": (D("0.01"), D("0.01"), D("0.1")),
        "bitget": (D(1), D("0.0001"), D("0.1"))}[exchange_id]


async def test_positions_sizes_margins_and_profit_rates_are_exact(exchange_id, server,
                                                                  venue):
    held = {p.side: p for p in await venue.positions()}
    long, short = held[Side.LONG], held[Side.SHORT]
    assert (long.symbol, long.size, long.entry_price, long.mark_price, long.margin,
            long.leverage, long.unrealized_pnl, long.profit_rate) == (
        APT, D(100), D(5), D("5.2"), D(80), D(10), D(20), D(25))
    assert (short.size, short.margin, short.unrealized_pnl, short.profit_rate) == (
        D(30), D(20), D(3), D(15))
    if exchange_id == "okx":
        # outside sandbox mode ccxt's load_markets also asks for the currencies (private)
        assert server.requests_to("/api/v5/asset/currencies")[0].account == "main"
    else:
        # ccxt asks whether the key is a unified account first: the fake says classic
        assert server.requests_to("/api/v3/account/settings")[0].account == "main"
        [sent] = server.requests_to(f"{BG}/position/all-position")
        assert sent.query == {"marginCoin": "USDT", "productType": "USDT-FUTURES"}


async def test_demo_is_sandbox_mode_with_the_base_url_kept(exchange_id, wire, exchange):
    async with wire.serve(exchange, demo=True) as server:
        demo = ccxt_venue(server, exchange_id, "sub1", demo=True)
        try:
            [position] = await demo.positions()
        finally:
            await demo.close()
    assert (position.account, position.size, position.margin, position.profit_rate) == (
        "sub1", D(60), D(32), D("37.5"))
    private = [r for r in server.requests if r.account is not None]
    assert {r.headers.get(wire.demo_header) for r in private} == {"1"}
    if exchange_id == "okx":
        assert server.requests_to("/api/v5/asset/currencies") == []  # skipped in sandbox


async def test_set_leverage_is_read_back(exchange_id, server, exchange, venue):
    assert await venue.set_leverage(APT, Side.SHORT, D(5)) == D(5)
    if exchange_id == "okx":
        [sent] = server.requests_to("/api/v5/account/set-leverage")
        assert sent.body == {"lever": 5, "mgnMode": "isolated", "instId": "APT-USDT-SWAP",
                             "posSide": "short"}
        assert server.requests_to("/api/v5/account/leverage-info")
    else:
        [sent] = server.requests_to(f"{BG}/account/set-leverage")
        assert sent.body == {"symbol": "APTUSDT", "leverage": "5", "marginCoin": "USDT",
                             "productType": "USDT-FUTURES", "holdSide": "short"}
        assert server.requests_to(f"{BG}/account/account")
    short = next(p for p in exchange.positions("main") if p.side is Side.SHORT)
    assert (short.leverage, short.margin) == (D(5), D("31.8"))  # 30 x 5.3 / 5


async def test_margin_is_moved_out_and_read_back(exchange_id, server, exchange, venue):
    change = await venue.change_margin(APT, Side.LONG, D(-5))
    assert (change.margin_after, change.leverage_after) == (D(75), D(520) / D(75))
    if exchange_id == "okx":
        [sent] = server.requests_to("/api/v5/account/position/margin-balance")
        assert sent.body == {"instId": "APT-USDT-SWAP", "posSide": "long", "type": "reduce",
                             "amt": "5"}
    else:
        [sent] = server.requests_to(f"{BG}/account/set-margin")
        assert sent.body == {"symbol": "APTUSDT", "marginCoin": "USDT",
                             "productType": "USDT-FUTURES", "holdSide": "long",
                             "amount": "-5"}
    long = next(p for p in exchange.positions("main") if p.side is Side.LONG)
    assert long.margin == D(75)


async def test_a_reduce_only_close_followed_to_filled(exchange_id, wire, server, exchange,
                                                      venue, store):
    settings = CloseSettings()
    position = next(p for p in await venue.positions() if p.side is Side.LONG)
    plan = plan_close(position, D(25), await venue.order_book(APT, settings.book_levels),
                      settings, datetime.now(UTC))
    action = store.create_action("close", "main", APT, "long", "command", {})
    executor = Executor(AsyncStore(store), client_prefix="t1", follow=FAST)

    result = await execute_close(executor, venue, action, plan, settings)

    [order] = exchange.orders.values()
    assert (order.side, order.position_side, order.size, order.reduce_only, order.state) == (
        OrderSide.SELL, Side.LONG, D(25), True, OrderState.FILLED)
    [sent] = server.requests_to(wire.place)
    client_id = client_id_for("t1", action, 1)
    if exchange_id == "okx":
        [body] = sent.body
        assert body["clOrdId"] == client_id == order.client_id
        assert (body["tdMode"], body["posSide"], body["reduceOnly"], body["ordType"],
                body["sz"]) == ("isolated", "long", True, "ioc", "25")
        assert D(body["px"]) == plan.orders[0].price
    else:
        # Bitget in hedge mode: `side` names the long being closed, tradeSide says close;
        # a bounded market close is an IOC limit; the size is coin (APT: one a contract).
        assert sent.body == {
            "symbol": "APTUSDT", "productType": "USDT-FUTURES", "marginMode": "isolated",
            "marginCoin": "USDT", "size": "25", "side": "buy", "tradeSide": "Close",
            "orderType": "limit", "force": "IOC", "clientOid": client_id,
            "price": str(plan.orders[0].price)}
        assert client_id == order.client_id
    engine_fills = exchange.account_fills("main", client_id=order.client_id)
    assert result.filled_size == D(25)
    assert result.fee == sum(f.fee for f in engine_fills) > 0
    assert result.realized_pnl == sum(f.realized_pnl for f in engine_fills)
    assert [p.size for p in await venue.positions() if p.side is Side.LONG] == [D(75)]


async def test_an_oversized_open_is_refused_for_margin_and_changes_nothing(wire, exchange,
                                                                          venue):
    cash = exchange.accounts["main"].cash
    with pytest.raises(InsufficientMargin) as refused:
        await venue.place_order(OrderRequest("big1", APT, OrderSide.BUY, Side.LONG,
                                             OrderType.MARKET, D(5000)))
    assert refused.value.code == wire.insufficient
    assert exchange.orders == {}
    assert exchange.accounts["main"].cash == cash


async def test_a_size_off_the_lot_is_refused_before_ccxt_could_truncate_it(wire, server,
                                                                          exchange, venue):
    with pytest.raises(BadPrecision):
        await venue.place_order(close_long("lot1", "2.5", D("5.1")))
    assert server.requests_to(wire.place) == []  # ccxt would have sent "2"
    exchange.faults.reject_orders(wire.off_the_lot, account="main")
    with pytest.raises(BadPrecision) as refused:  # and the venue's own code maps the same
        await venue.place_order(close_long("lot2", "2", D("5.1")))
    assert refused.value.code == wire.off_the_lot
    assert exchange.orders == {}


async def test_a_rate_limited_read_is_retried_with_backoff(wire, server, venue, sleeps):
    await venue.instruments()
    server.fail_next(wire.rate_limited, times=2, path=wire.positions)
    assert len(await venue.positions()) == 2
    assert sleeps.delays == [0.01, 0.02]
    assert len(server.requests_to(wire.positions)) == 3


async def test_a_rate_limited_order_is_sent_again_and_placed_once(wire, server, exchange,
                                                                 venue):
    server.fail_next(wire.rate_limited, path=wire.place)
    order = await venue.place_order(close_long("rl1", "10", D("5.1")))
    assert (order.state, order.filled_size) == (OrderState.FILLED, D(10))
    assert len(server.requests_to(wire.place)) == 2
    assert len(exchange.orders) == 1


async def test_a_busy_answer_to_an_order_is_not_blindly_resent(wire, server, venue):
    server.fail_next(wire.busy, path=wire.place)
    with pytest.raises(VenueUnavailable) as busy:
        await venue.place_order(close_long("busy1", "10", D("5.1")))
    assert busy.value.code == wire.busy
    assert len(server.requests_to(wire.place)) == 1


async def test_a_timeout_after_accept_leaves_one_order_found_by_client_id(
        wire, server, exchange, venue, store):
    await venue.instruments()
    exchange.faults.timeout_after_accept(account="main")
    action = store.create_action("close", "main", APT, "long", "command", {})
    executor = Executor(AsyncStore(store), client_prefix="t2", follow=FAST)
    outcome = await executor.order_step(venue, action, 1, "close", close_long("", "5", D("5.1")))
    assert (outcome.state, outcome.filled_size, outcome.error) == (OrderState.FILLED, D(5), None)
    assert len(exchange.orders) == 1
    assert len(server.requests_to(wire.place)) == 1
    with pytest.raises(RequestTimeout):  # what the executor saw first
        exchange.faults.timeout_after_accept(account="main")
        await venue.place_order(close_long("to2", "5", D("5.1")))


async def test_an_unknown_client_id_is_order_unknown(wire, venue):
    with pytest.raises(OrderUnknown) as unknown:
        await venue.order_by_client_id(APT, "nosuch1")
    assert unknown.value.code == wire.no_such_order


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
    # the side is the trade's (a sell closing the long), whatever the wire calls it
    assert [(f.side, f.size, f.price, f.fee, f.realized_pnl, f.position_side)
            for f in fills] == [
        (OrderSide.SELL, f.size, f.price, f.fee, f.realized_pnl, Side.LONG) for f in engine]
    assert all(f.fee > 0 for f in fills)


async def test_candles_are_oldest_first_exact_and_their_bar_named_as_the_venue_does(
        exchange_id, wire):
    async with wire.serve(marked_exchange(), demo=False) as server:
        venue = ccxt_venue(server, exchange_id)
        try:
            bars = await venue.candles(APT, "5m", 3)
            hour = await venue.candles(APT, "1h", 1)
        finally:
            await venue.close()
    assert server.errors == []
    assert [(c.time, c.open, c.high, c.low, c.close) for c in bars] == [
        (T0, D("5.2"), D("5.3"), D("5.1"), D("5.25")),
        (T0 + timedelta(minutes=5), D("5.4"), D("5.45"), D("5.35"), D("5.35")),
        (T0 + timedelta(minutes=10), D("5.35"), D("5.35"), D("5.35"), D("5.35"))]
    assert [(c.time, c.open, c.high, c.low, c.close) for c in hour] == [
        (T0, D("5.2"), D("5.45"), D("5.1"), D("5.35"))]
    path, asked = {"okx": ("/api/v5/market/candles", {"instId": "APT-USDT-SWAP"}),
                   "bitget": (f"{BG}/market/candles", {"symbol": "APTUSDT",
                                                        "productType": "USDT-FUTURES"})
                   }[exchange_id]
    bar_key = {"okx": "bar", "bitget": "granularity"}[exchange_id]
    assert [r.query for r in server.requests_to(path)] == [
        {**asked, bar_key: "5m", "limit": "3"}, {**asked, bar_key: "1H", "limit": "1"}]


# -- Bitget ------------------------------------------------------------------------------

bitget_only = pytest.mark.parametrize("exchange_id", ["bitget"])


@bitget_only
async def test_bitget_a_grid_buy_rests_fills_on_the_way_down_and_its_hedge_closes_it(
        exchange, venue, server):
    """A grid's round trip in BTC, where Bitget's coin and the engine's contracts differ:
    a limit BUY resting below the market, filled as the mark falls to it; then a
    reduce-only SELL above, resting until the mark rises, closing the long again."""
    exchange.set_mark("BTC-USDT-SWAP", D("95000"))
    buy = await venue.place_order(OrderRequest(
        "g1b1", BTC, OrderSide.BUY, Side.LONG, OrderType.LIMIT, D("0.0003"), D("94000")))
    assert (buy.state, buy.size, buy.side, buy.position_side, buy.reduce_only) == (
        OrderState.LIVE, D("0.0003"), OrderSide.BUY, Side.LONG, False)
    assert exchange.orders["1"].size == D("0.03")  # contracts of 0.01 BTC
    assert [o.client_id for o in await venue.open_orders(BTC)] == ["g1b1"]

    exchange.set_mark("BTC-USDT-SWAP", D("93900"))
    bought = await venue.order_by_client_id(BTC, "g1b1")
    assert (bought.state, bought.filled_size, bought.average_price) == (
        OrderState.FILLED, D("0.0003"), D(94000))
    [held] = [p for p in await venue.positions() if p.symbol == BTC]
    assert (held.side, held.size, held.entry_price) == (Side.LONG, D("0.0003"), D(94000))

    sell = await venue.place_order(OrderRequest(
        "g1s1", BTC, OrderSide.SELL, Side.LONG, OrderType.LIMIT, D("0.0003"), D("95500"),
        reduce_only=True))
    assert (sell.state, sell.side, sell.position_side, sell.reduce_only) == (
        OrderState.LIVE, OrderSide.SELL, Side.LONG, True)
    [sent] = [r.body for r in server.requests_to(f"{BG}/order/place-order")
              if r.body["clientOid"] == "g1s1"]
    assert (sent["side"], sent["tradeSide"], sent["size"], sent["force"]) == (
        "buy", "Close", "0.0003", "GTC")
    exchange.set_mark("BTC-USDT-SWAP", D("95600"))
    sold = await venue.order_by_client_id(BTC, "g1s1")
    assert (sold.state, sold.side, sold.filled_size, sold.realized_pnl) == (
        OrderState.FILLED, OrderSide.SELL, D("0.0003"), D("0.45"))  # 0.0003 x 1500
    [fill] = await venue.fills(BTC, client_id="g1s1")
    assert (fill.side, fill.position_side, fill.size, fill.price, fill.realized_pnl) == (
        OrderSide.SELL, Side.LONG, D("0.0003"), D(95500), D("0.45"))
    assert [p for p in await venue.positions() if p.symbol == BTC] == []
    assert await venue.open_orders(BTC) == []


@bitget_only
async def test_bitget_a_duplicate_client_oid_is_answered_with_the_order_it_names(
        server, exchange, venue):
    first = await venue.place_order(close_long("dup1", "10", D("5.1")))
    # The adapter's look-up before sending misses (say it raced the first order), so
    # ccxt sends the order again and Bitget refuses the clientOid as a duplicate.
    server.fail_next("40109", path=f"{BG}/order/detail")
    again = await venue.place_order(close_long("dup1", "10", D("5.1")))
    assert (again.venue_id, again.state) == (first.venue_id, OrderState.FILLED)
    assert len(server.requests_to(f"{BG}/order/place-order")) == 2
    assert len(exchange.orders) == 1


@bitget_only
async def test_bitget_a_system_error_to_an_order_is_venue_unavailable(server, venue):
    # 40015 "System is abnormal, please try again later": the order may have landed.
    server.fail_next("40015", path=f"{BG}/order/place-order")
    with pytest.raises(VenueUnavailable) as busy:
        await venue.place_order(close_long("sys1", "10", D("5.1")))
    assert busy.value.code == "40015"
    assert len(server.requests_to(f"{BG}/order/place-order")) == 1


@bitget_only
async def test_bitget_margin_is_sent_exact_not_cut_to_the_size_step(server, exchange, venue):
    # ccxt's own add_margin would send amount_to_precision(2.5) = "2" for APT (1-coin steps)
    change = await venue.change_margin(APT, Side.LONG, D("2.5"))
    [sent] = server.requests_to(f"{BG}/account/set-margin")
    assert sent.body["amount"] == "2.5"
    assert change.margin_after == D("82.5")
    long = next(p for p in exchange.positions("main") if p.side is Side.LONG)
    assert long.margin == D("82.5")


@bitget_only
async def test_bitget_the_book_is_asked_in_one_of_its_fixed_depths(server, venue):
    book = await venue.order_book(APT, 3)  # merge-depth takes 1, 5, 15, 50 or max only
    assert (len(book.bids), len(book.asks)) == (3, 3)
    [sent] = server.requests_to(f"{BG}/market/merge-depth")
    assert sent.query["limit"] == "5"


@bitget_only
async def test_bitget_an_orders_fills_are_found_behind_a_page_of_newer_ones(server, exchange,
                                                                           venue):
    await venue.place_order(close_long("old1", "1", D("5.1")))
    for n in range(100):  # a hundred newer fills, straight into the engine: a full page
        exchange.place_order("main", OrderRequest(
            f"new{n}", "APT-USDT-SWAP", OrderSide.BUY, Side.LONG, OrderType.MARKET, D(1)))
    fills = await venue.fills(APT, client_id="old1")
    assert [(f.client_id, f.size) for f in fills] == [("old1", D(1))]
    sent = server.requests_to(f"{BG}/order/fills")[-1]
    assert sent.query["orderId"] == fills[0].order_venue_id


@bitget_only
async def test_bitget_profit_rates_are_exact_where_ccxt_cuts_them(exchange, venue):
    # short 0.01 BTC @ 95100 with 3 USDT margin, mark 95000: +1 USDT is a third of the
    # margin; ccxt's own percentage says 33.33 (its division stops at 4 decimals).
    exchange.set_mark("BTC-USDT-SWAP", D(95000))
    exchange.seed_position("main", "BTC-USDT-SWAP", Side.SHORT, D(1), D(95100), D(10), D(3))
    [short] = [p for p in await venue.positions() if p.symbol == BTC]
    assert (short.size, short.unrealized_pnl, short.margin) == (D("0.01"), D(1), D(3))
    assert short.profit_rate == profit_rate(D(1), D(3)) == D(100) / D(3)


def test_bitget_hedge_orders_read_their_trade_from_trade_side():
    """Bitget's docs show reduceOnly in lower case ("yes"/"no"); ccxt flips a hedge-mode
    order's side unless it reads exactly "NO", so an opening buy would come back a
    reduce-only sell. tradeSide says what the order does, whatever the casing."""
    bitget = ccxt.bitget()
    raw = {"symbol": "BTCUSDT", "size": "0.0003", "orderId": "1", "clientOid": "g1",
           "baseVolume": "0", "fee": "0", "price": "94000", "priceAvg": "", "state": "live",
           "side": "buy", "force": "gtc", "totalProfits": "0", "posSide": "long",
           "marginCoin": "USDT", "orderType": "limit", "marginMode": "isolated",
           "tradeSide": "open", "posMode": "hedge_mode", "cTime": "1", "uTime": "1"}
    opening = parse.order_from(bitget.parse_order({**raw, "reduceOnly": "no"}))
    closing = parse.order_from(bitget.parse_order(
        {**raw, "clientOid": "g2", "tradeSide": "close", "reduceOnly": "yes"}))
    assert (opening.side, opening.position_side, opening.reduce_only) == (
        OrderSide.BUY, Side.LONG, False)
    assert (closing.side, closing.position_side, closing.reduce_only) == (
        OrderSide.SELL, Side.LONG, True)
