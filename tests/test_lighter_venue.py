"""Contract tests of the Lighter adapter: the real lighter-sdk (its native signer and its
REST client) against the local Lighter server (tests/fakes/lighter_server.py), which
serves the paper engine. What reaches the venue is checked on the wire: the signed
transactions the server decoded."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from bot.closing import CloseMethod, execute_close, plan_close
from bot.config_rules import CloseSettings
from bot.domain import OrderRequest, OrderSide, OrderState, OrderType, Side, TimeInForce
from bot.execution import Executor, FollowSettings, client_id_for
from bot.venues.base import OrderUnknown
from bot.venues.lighter.venue import LighterVenue
from bot.venues.lighter.wire import client_order_index
from db import Database, Store
from db.aio import AsyncStore
from tests.fakes.candle_marks import NOW, T0, StepClock, play
from tests.fakes.lighter_server import MARKETS, FakeLighterServer, lighter_exchange

ACCOUNT = 7
KEY_INDEX = 3
FOLLOW = FollowSettings(poll_seconds=0.01, backoff_seconds=0.01, timeout_seconds=2,
                        poll_max_seconds=0.05, late_window_seconds=0.3)
CLOSE = CloseSettings(follow_timeout_seconds=2, batch_interval_seconds=D(0), gtt_seconds=60)


@pytest.fixture
def journal(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    db.migrate()
    yield Store(db)
    db.dispose()


@contextlib.asynccontextmanager
async def lighter(exchange=None, **options):
    """A Lighter account (index 7) holding 0.002 BTC long at 95,000, through the server,
    on `exchange` or a new one."""
    from lighter.signer_client import create_api_key

    exchange = exchange or lighter_exchange({"BTC": D("95000"), "ETH": D("3000")})
    exchange.market.freeze()
    exchange.add_account("lt", D("1000"))
    exchange.seed_position("lt", "BTC", Side.LONG, D("0.002"), D("94000"), D("10"))
    private_key, _, _ = create_api_key()
    async with FakeLighterServer(exchange, {ACCOUNT: "lt"}, MARKETS) as server:
        venue = LighterVenue("lt", api_key=private_key, account_index=ACCOUNT,
                             api_key_index=KEY_INDEX, base_url=server.base_url,
                             **options)
        try:
            yield venue, server, exchange
        finally:
            await venue.close()


def creates(server):
    return [tx for tx in server.sent if tx["tx_type"] == 14]


async def close(venue, journal, size, *, action=1):
    [position] = await venue.positions()
    executor = Executor(AsyncStore(journal), client_prefix="b1a2b3c", follow=FOLLOW)
    action_id = journal.create_action("close", "lt", "BTC", "long", "command", {})
    book = await venue.order_book("BTC", CLOSE.book_levels)
    plan = plan_close(position, D(size), book, CLOSE, datetime.now(UTC))
    return plan, await execute_close(executor, venue, action_id, plan, CLOSE)


async def test_markets_positions_and_balance_read_through_the_sdk():
    async with lighter() as (venue, _, _):
        btc = await venue.instrument("BTC")
        assert (btc.symbol, btc.lot_size, btc.min_size, btc.tick_size, btc.contract_value) == (
            "BTC", D("0.00001"), D("0.0002"), D("0.1"), D(1))
        [position] = await venue.positions()
        assert (position.symbol, position.side, position.size, position.entry_price) == (
            "BTC", Side.LONG, D("0.002"), D("94000"))
        assert position.leverage == D(10) and position.margin > 0
        assert (await venue.balance()).free > 0
        book = await venue.order_book("BTC", 3)
        assert book.bids and book.asks and book.bids[0].price < book.asks[0].price


async def test_closing_0_001_btc_of_a_long_sends_a_reduce_only_ask_scaled_by_the_market(
        journal):
    async with lighter() as (venue, server, exchange):
        plan, result = await close(venue, journal, "0.001")

        assert plan.method is CloseMethod.MARKET
        [order] = creates(server)
        assert (order["IsAsk"], order["ReduceOnly"], order["Type"], order["TimeInForce"]) == (
            1, 1, 1, 0)
        assert order["BaseAmount"] == 100  # 0.001 BTC, 5 size decimals
        assert order["Price"] == int(plan.orders[0].price * 10)  # the worst price, 1 decimal
        assert order["ClientOrderIndex"] == client_order_index(client_id_for("b1a2b3c", 1, 1))
        assert (result.state, result.filled_size) == ("done", D("0.001"))
        assert [p.size for p in await venue.positions()] == [D("0.001")]
        [fill] = result.outcomes[0].fills
        assert fill.size == D("0.001") and fill.price > 0


async def test_a_thin_book_closes_in_good_till_time_limit_batches(journal):
    async with lighter() as (venue, server, exchange):
        # 0.0003 on the top three bids: a close of 0.002 goes out in limit batches at the
        # best bid less 0.5 %; the fourth level, above that, fills each batch at once
        exchange.market.set_book("BTC", bids=[(D("94990"), D("0.0001")),
                                              (D("94980"), D("0.0001")),
                                              (D("94970"), D("0.0001")),
                                              (D("94960"), D("10"))],
                                 asks=[(D("95010"), D("1"))])
        plan, _ = await close(venue, journal, "0.002")

        assert plan.method is CloseMethod.LIMIT_BATCHES
        sent = creates(server)
        assert len(sent) == len(plan.orders) > 1
        assert all((o["Type"], o["TimeInForce"], o["IsAsk"], o["ReduceOnly"]) == (0, 1, 1, 1)
                   for o in sent)
        assert all(o["OrderExpiry"] > 0 for o in sent)  # good till the plan's time


async def test_an_order_accepted_and_never_filled_is_reported_cancelled_not_closed(journal):
    async with lighter() as (venue, server, exchange):
        exchange.faults.never_fill("lt")
        _, result = await close(venue, journal, "0.001")

        [outcome] = result.outcomes
        assert outcome.state is OrderState.CANCELED and outcome.filled_size == 0
        assert result.state == "failed"
        assert [tx["tx_type"] for tx in server.sent] == [14, 15]  # the order, its cancel
        assert [p.size for p in await venue.positions()] == [D("0.002")]


async def test_an_invalid_nonce_is_sent_once_more():
    async with lighter() as (venue, server, exchange):
        await venue.place_order(_order("b1a2b3ca9s1", "0.0005"))  # the SDK holds a nonce now
        server.set_nonce(ACCOUNT, KEY_INDEX, 1000)  # ... which is stale from here
        server.requests.clear()

        await venue.place_order(_order("b1a2b3ca9s2", "0.0005"))

        sends = server.requests_to("/api/v1/sendTx")
        assert len(sends) == 2 and server.nonce(ACCOUNT, KEY_INDEX) == 1001
        assert len(exchange.orders) == 2  # one each: the refused send was never applied


async def test_a_timeout_after_acceptance_finds_the_order_instead_of_sending_another(
        journal):
    async with lighter(timeout_seconds=0.5) as (venue, server, exchange):
        server.hold_next_send(land=True)
        _, result = await close(venue, journal, "0.001")

        assert len(exchange.orders) == 1  # found by its client index, never sent again
        assert result.filled_size == D("0.001") and result.state == "done"


async def test_margin_and_leverage_reach_the_venue_exactly():
    async with lighter() as (venue, server, _):
        added = await venue.change_margin("BTC", Side.LONG, D("5"))
        removed = await venue.change_margin("BTC", Side.LONG, D("-1.79"))
        leverage = await venue.set_leverage("BTC", Side.LONG, D(5))

        moves = [(tx["USDCAmount"], tx["Direction"]) for tx in server.sent if tx["tx_type"] == 29]
        assert moves == [(5_000_000, 1), (1_790_000, 0)]  # exact: not 1789999 (a float's)
        assert removed.margin_after == added.margin_after - D("1.79")
        leverage_tx = next(tx for tx in server.sent if tx["tx_type"] == 20)
        assert leverage_tx["InitialMarginFraction"] == 2000 and leverage == D(5)


def _order(client_id, size):
    return OrderRequest(client_id, "BTC", OrderSide.SELL, Side.LONG, OrderType.MARKET,
                        D(size), D("90000"), reduce_only=True, time_in_force=TimeInForce.IOC)


async def test_a_just_sent_order_not_visible_yet_is_waited_for_by_the_adapter():
    """Lighter shows a sequenced order a moment later: the adapter's look-up waits that
    grace out (the executor never counts a miss); past it, an order is unknown."""
    async with lighter(visible_within_seconds=5) as (venue, server, exchange):
        await venue.place_order(_order("b1a2b3ca9s1", "0.0005"))
        api, misses = venue._order_api, []
        account_orders = api.account_orders

        async def not_yet(**kwargs):  # the first two look-ups find nothing
            misses.append(1)
            answer = await account_orders(**kwargs)
            if len(misses) <= 2:
                answer.orders = []
            return answer

        api.account_orders = not_yet
        found = await venue.order_by_client_id("BTC", "b1a2b3ca9s1")

        assert len(misses) == 3 and found.state is OrderState.FILLED
        with pytest.raises(OrderUnknown):  # never sent by this adapter: no grace
            await venue.order_by_client_id("BTC", "b1a2b3ca9s2")


async def test_candles_are_asked_for_the_window_that_holds_them_and_read_exactly():
    clock = StepClock()
    exchange = lighter_exchange({"BTC": D("95000"), "ETH": D("3000")}, clock=clock)
    play(exchange, clock, "BTC", ((1, "95100.5"), (3, "94900"), (4.5, "95050.2"),
                                  (6, "95200"), (8, "95300.7"), (9, "95150")))
    async with lighter(exchange, clock=NOW.timestamp) as (venue, server, _):
        bars = await venue.candles("BTC", "5m", 3)
        hour = await venue.candles("BTC", "1h", 1)

    assert [(c.time, c.open, c.high, c.low, c.close) for c in bars] == [
        (T0, D("95000"), D("95100.5"), D("94900"), D("95050.2")),
        (T0 + timedelta(minutes=5), D("95200"), D("95300.7"), D("95150"), D("95150")),
        (T0 + timedelta(minutes=10), D("95150"), D("95150"), D("95150"), D("95150"))]
    assert [(c.time, c.open, c.high, c.low, c.close) for c in hour] == [
        (T0, D("95000"), D("95300.7"), D("94900"), D("95150"))]
    now_ms = int(NOW.timestamp()) * 1000
    assert [r.query for r in server.requests_to("candles")] == [
        {"market_id": "1", "resolution": "5m", "start_timestamp": str(now_ms - 3 * 300_000),
         "end_timestamp": str(now_ms), "count_back": "3"},
        {"market_id": "1", "resolution": "1h", "start_timestamp": str(now_ms - 3_600_000),
         "end_timestamp": str(now_ms), "count_back": "1"}]
