"""The paper exchange behaves like an isolated-margin perpetual-swap venue."""

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from bot.domain import (
    Liquidity,
    OrderRequest,
    OrderSide,
    OrderState,
    OrderType,
    Side,
    TimeInForce,
)
from bot.venues.base import (
    BadPrecision,
    BelowMinimumSize,
    InsufficientMargin,
    InvalidOrder,
    MarginChangeRejected,
    OrderUnknown,
    PositionNotFound,
    RequestTimeout,
    VenueError,
    VenueUnavailable,
)
from bot.venues.paper import PaperStore, PaperVenue, open_paper_exchange
from bot.venues.paper.demo import new_exchange
from bot.venues.paper.store import dump
from tests.fakes.candle_marks import APT_MOVES, NOW, T0, StepClock, play

APT = "APT-USDT-SWAP"
BTC = "BTC-USDT-SWAP"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def ex(clock):
    ex = new_exchange(clock=clock)
    ex.market.freeze()
    ex.add_account("main", D("1000"))
    ex.add_account("sub1", D("200"))
    return ex


def close_long(client_id, size, *, kind=OrderType.MARKET, price=None, tif=TimeInForce.GTC,
               expire_at=None, symbol=APT):
    return OrderRequest(client_id, symbol, OrderSide.SELL, Side.LONG, kind, D(size), price,
                        reduce_only=True, time_in_force=tif, expire_at=expire_at)


def open_long(client_id, size, *, kind=OrderType.MARKET, price=None, symbol=APT,
              tif=TimeInForce.GTC):
    return OrderRequest(client_id, symbol, OrderSide.BUY, Side.LONG, kind, D(size), price,
                        time_in_force=tif)


def test_market_close_walks_three_levels(ex):
    ex.seed_position("main", APT, Side.LONG, D("100"), D("5"), D("10"))
    cash_before = ex.accounts["main"].cash
    ex.market.set_book(APT, bids=[(D("5.300"), D("40")), (D("5.290"), D("30")),
                                  (D("5.280"), D("50"))], asks=[(D("5.31"), D("100"))])

    order = ex.place_order("main", close_long("c1", "100", price=D("5.250")))

    assert order.state is OrderState.FILLED
    assert order.filled_size == D("100")
    assert order.average_price == D("5.291")  # (40x5.30 + 30x5.29 + 30x5.28) / 100
    assert order.fee == D("0.264550")  # 529.1 USDT x 0.05% taker
    assert order.realized_pnl == D("29.100")  # (5.291 - 5) x 100 APT
    fills = ex.account_fills("main", client_id="c1")
    assert [(f.price, f.size) for f in fills] == [(D("5.300"), D("40")), (D("5.290"), D("30")),
                                                   (D("5.280"), D("30"))]
    assert all(f.liquidity is Liquidity.TAKER for f in fills)
    assert ex.positions("main") == []
    assert ex.accounts["main"].cash == cash_before + D("50") + D("29.100") - D("0.264550")
    # the book was consumed: the third level has 20 left
    assert ex.order_book(APT, 3).bids[0].size == D("20")


def test_market_order_stops_at_worst_price_and_reports_partial(ex):
    ex.seed_position("main", APT, Side.LONG, D("100"), D("5"), D("10"))
    ex.market.set_book(APT, bids=[(D("5.2"), D("30")), (D("5.1"), D("100"))], asks=[])
    order = ex.place_order("main", close_long("c1", "100", price=D("5.15")))
    assert order.state is OrderState.CANCELED
    assert order.filled_size == D("30")
    assert ex.positions("main")[0].size == D("70")


def test_oversized_open_raises_insufficient_margin_and_changes_nothing(ex):
    before = dump(ex)
    # 1 BTC contract = 950 USDT notional = 95 USDT margin at 10x; 20 contracts need 1900.
    with pytest.raises(InsufficientMargin) as err:
        ex.place_order("sub1", open_long("o1", "20", symbol=BTC))
    assert err.value.code == "51008"
    assert dump(ex) == before
    with pytest.raises(OrderUnknown):
        ex.get_order("sub1", client_id="o1")


def test_open_updates_margin_entry_and_free_balance(ex):
    ex.market.set_book(BTC, bids=[], asks=[(D("95000.0"), D("1")), (D("95010.0"), D("1"))])
    order = ex.place_order("main", open_long("o1", "2", symbol=BTC, price=D("95100.0")))
    assert order.state is OrderState.FILLED
    pos = ex.positions("main")[0]
    assert (pos.size, pos.entry_price) == (D("2"), D("95005"))
    assert pos.margin == D("190.010")  # 1900.10 notional / 10
    assert ex.balance("main").free == D("1000") - D("190.010") - D("0.950050")


def test_reduce_only_cannot_flip_a_position(ex):
    ex.seed_position("main", APT, Side.LONG, D("10"), D("5"), D("10"))
    resting = ex.place_order("main", close_long("r1", "6", kind=OrderType.LIMIT, price=D("6")))
    assert resting.state is OrderState.LIVE
    ex.place_order("main", close_long("m1", "4"))
    with pytest.raises(InvalidOrder) as err:  # only 6 left and all of it is pending
        ex.place_order("main", close_long("m2", "1"))
    assert err.value.code == "51112"
    ex.set_mark(APT, D("6"))
    assert ex.get_order("main", client_id="r1").state is OrderState.FILLED
    assert ex.positions("main") == []  # flat, not short
    with pytest.raises(PositionNotFound):
        ex.place_order("main", close_long("m3", "1"))
    with pytest.raises(InvalidOrder) as err:  # reduce-only on the opening side
        ex.place_order("main", OrderRequest("x", APT, OrderSide.BUY, Side.LONG,
                                            OrderType.MARKET, D("1"), reduce_only=True))
    assert err.value.code == "51170"
    assert ex.positions("main") == []


def test_resubmitted_client_id_returns_the_same_order(ex):
    ex.seed_position("main", APT, Side.LONG, D("10"), D("5"), D("10"))
    first = ex.place_order("main", close_long("same", "3"))
    again = ex.place_order("main", close_long("same", "3"))
    assert again.venue_id == first.venue_id
    assert len(ex.account_fills("main", client_id="same")) == len(
        ex.account_fills("main", venue_id=first.venue_id))
    assert ex.positions("main")[0].size == D("7")  # closed once, not twice


def test_restart_reloads_identical_state(tmp_path, clock):
    store = PaperStore(tmp_path / "paper.json")
    ex = open_paper_exchange(store, [("main", "main"), ("sub1", "sub")], demo_portfolio=True,
                             clock=clock)
    venue = PaperVenue(ex, "main", store)
    ex.place_order("main", close_long("c1", "1"))
    ex.place_order("sub1", close_long("c2", "10", kind=OrderType.LIMIT, price=D("9")))
    ex.set_leverage("sub1", BTC, Side.SHORT, D("5"))
    ex.tick()
    store.save(ex)

    again = open_paper_exchange(store, [("main", "main"), ("sub1", "sub")],
                                demo_portfolio=True, clock=clock)
    assert dump(again) == dump(ex)
    assert again.positions("sub1") == ex.positions("sub1")
    assert again.open_orders("sub1") == ex.open_orders("sub1")
    assert again.account_fills("main") == ex.account_fills("main")
    # the random walk continues exactly where it stopped
    ex.tick()
    again.tick()
    assert again.market.marks == ex.market.marks
    # and a client id placed before the restart is still known
    assert again.place_order("main", close_long("c1", "1")).venue_id == \
        ex.get_order("main", client_id="c1").venue_id
    assert venue.name == "main"


def test_limit_order_rests_then_fills_as_maker_when_the_mark_crosses(ex):
    ex.seed_position("main", APT, Side.LONG, D("10"), D("5"), D("10"))
    order = ex.place_order("main", close_long("l1", "10", kind=OrderType.LIMIT,
                                              price=D("5.5")))
    assert order.state is OrderState.LIVE and ex.open_orders("main") == [order]
    ex.set_mark(APT, D("5.4"))
    assert ex.get_order("main", client_id="l1").state is OrderState.LIVE
    ex.set_mark(APT, D("5.5"))
    done = ex.get_order("main", client_id="l1")
    assert (done.state, done.average_price, done.fee) == (OrderState.FILLED, D("5.5"),
                                                           D("0.011000"))
    assert ex.account_fills("main", client_id="l1")[0].liquidity is Liquidity.MAKER


def test_ioc_fills_what_the_book_holds_and_cancels_the_rest(ex):
    ex.seed_position("main", APT, Side.LONG, D("100"), D("5"), D("10"))
    ex.market.set_book(APT, bids=[(D("5.2"), D("25"))], asks=[])
    order = ex.place_order("main", close_long("i1", "100", kind=OrderType.LIMIT,
                                              price=D("5.1"), tif=TimeInForce.IOC))
    assert (order.state, order.filled_size) == (OrderState.CANCELED, D("25"))
    assert ex.open_orders("main") == []


def test_good_till_time_expires(ex, clock):
    ex.seed_position("main", APT, Side.LONG, D("10"), D("5"), D("10"))
    expiry = clock.now + timedelta(hours=1)
    ex.place_order("main", close_long("g1", "5", kind=OrderType.LIMIT, price=D("9"),
                                      tif=TimeInForce.GTT, expire_at=expiry))
    clock.now = expiry - timedelta(seconds=1)
    ex.tick()
    assert ex.get_order("main", client_id="g1").state is OrderState.LIVE
    clock.now = expiry
    ex.tick()
    assert ex.get_order("main", client_id="g1").state is OrderState.EXPIRED
    assert ex.open_orders("main") == []


def test_resting_open_reserves_free_balance(ex):
    before = ex.balance("sub1").free
    ex.place_order("sub1", open_long("b1", "100", kind=OrderType.LIMIT, price=D("1")))
    assert ex.balance("sub1").free == before - D("10") - D("0.05")
    ex.cancel_order("sub1", client_id="b1")
    assert ex.balance("sub1").free == before


def test_profit_rate_is_pnl_over_isolated_margin(ex):
    ex.seed_position("main", APT, Side.SHORT, D("60"), D("5.5"), D("10"))
    ex.set_mark(APT, D("5"))
    pos = ex.positions("main")[0]
    assert pos.margin == D("33.0")
    assert pos.unrealized_pnl == D("30.0")
    assert pos.profit_rate == D("30.0") / D("33.0") * 100


def test_leverage_change_moves_margin(ex):
    ex.seed_position("main", APT, Side.LONG, D("100"), D("5"), D("10"))
    free = ex.balance("main").free
    assert ex.set_leverage("main", APT, Side.LONG, D("20")) == D("20")
    assert ex.positions("main")[0].margin == D("25")
    assert ex.balance("main").free == free + D("25")
    with pytest.raises(Exception) as err:
        ex.set_leverage("main", APT, Side.LONG, D("500"))
    assert err.value.code == "59102"


def test_margin_add_and_reduce_with_a_floor(ex):
    ex.seed_position("sub1", APT, Side.LONG, D("20"), D("5"), D("10"), D("31"))
    ex.set_mark(APT, D("5"))
    change = ex.change_margin("sub1", APT, Side.LONG, D("-5"))
    assert (change.margin_after, change.leverage_after) == (D("26"), D("100") / D("26"))
    with pytest.raises(MarginChangeRejected) as err:  # 10 USDT is what 100 at 10x needs
        ex.change_margin("sub1", APT, Side.LONG, D("-17"))
    assert err.value.code == "59301"
    ex.change_margin("sub1", APT, Side.LONG, D("-16"))
    assert ex.positions("sub1")[0].margin == D("10")
    with pytest.raises(PositionNotFound):
        ex.change_margin("sub1", APT, Side.SHORT, D("1"))


def test_accounts_are_isolated(ex):
    ex.seed_position("sub1", APT, Side.LONG, D("10"), D("5"), D("10"))
    assert ex.positions("main") == []
    ex.place_order("sub1", close_long("s1", "1"))
    with pytest.raises(OrderUnknown):
        ex.get_order("main", client_id="s1")
    assert ex.get_order("sub1", client_id="s1").state is OrderState.FILLED


def test_size_rules(ex):
    with pytest.raises(BadPrecision):
        ex.place_order("main", open_long("p1", "0.015", symbol=BTC))
    ex.instruments[BTC] = replace(ex.instruments[BTC], min_size=D("0.1"))
    with pytest.raises(BelowMinimumSize):
        ex.place_order("main", open_long("p2", "0.05", symbol=BTC))
    with pytest.raises(InvalidOrder) as err:
        ex.place_order("main", open_long("p3", "200000"))
    assert err.value.code == "51202"


# -- fault injection ------------------------------------------------------------------------


def test_fault_reject_with_a_code(ex):
    ex.seed_position("main", APT, Side.LONG, D("10"), D("5"), D("10"))
    ex.faults.reject_orders("50013", account="main")
    with pytest.raises(VenueUnavailable) as err:
        ex.place_order("main", close_long("f1", "1"))
    assert err.value.code == "50013"
    assert ex.positions("main")[0].size == D("10")
    assert ex.place_order("main", close_long("f1", "1")).state is OrderState.FILLED  # once


def test_fault_accept_but_never_fill(ex):
    ex.seed_position("main", APT, Side.LONG, D("10"), D("5"), D("10"))
    ex.faults.never_fill("main")
    order = ex.place_order("main", close_long("n1", "10"))
    assert order.state is OrderState.LIVE
    ex.set_mark(APT, D("1"))
    ex.tick()
    assert ex.get_order("main", client_id="n1").state is OrderState.LIVE
    assert ex.positions("main")[0].size == D("10")
    cancelled = ex.cancel_order("main", client_id="n1")
    assert (cancelled.state, cancelled.filled_size) == (OrderState.CANCELED, D("0"))


async def test_fault_timeout_after_accept(ex):
    ex.seed_position("main", APT, Side.LONG, D("10"), D("5"), D("10"))
    venue = PaperVenue(ex, "main")
    ex.faults.timeout_after_accept(account="main")
    with pytest.raises(RequestTimeout):
        await venue.place_order(close_long("t1", "4"))
    found = await venue.order_by_client_id(APT, "t1")
    assert (found.state, found.filled_size) == (OrderState.FILLED, D("4"))
    again = await venue.place_order(close_long("t1", "4"))  # a blind retry changes nothing
    assert again.venue_id == found.venue_id
    assert (await venue.positions())[0].size == D("6")


async def test_fault_latency(ex):
    venue = PaperVenue(ex, "main")
    ex.faults.latency_seconds = 0.05
    loop = asyncio.get_running_loop()
    start = loop.time()
    await venue.balance()
    assert loop.time() - start >= 0.05


# -- candles ------------------------------------------------------------------------------


def test_marks_become_candles_per_bar_oldest_first_and_a_still_bar_repeats_the_close():
    clock = StepClock()
    ex = new_exchange(clock=clock)
    play(ex, clock, APT, APT_MOVES)
    assert [_ohlc(c) for c in ex.candles(APT, "5m", 3)] == [
        (T0, D("5.2"), D("5.3"), D("5.1"), D("5.25")),
        (T0 + timedelta(minutes=5), D("5.4"), D("5.45"), D("5.35"), D("5.35")),
        (T0 + timedelta(minutes=10), D("5.35"), D("5.35"), D("5.35"), D("5.35"))]
    assert [_ohlc(c) for c in ex.candles(APT, "1h", 1)] == [
        (T0, D("5.2"), D("5.45"), D("5.1"), D("5.35"))]
    assert [_ohlc(c) for c in ex.candles(APT, "15m", 1)] == [
        (T0, D("5.2"), D("5.45"), D("5.1"), D("5.35"))]
    assert [_ohlc(c) for c in ex.candles(APT, "1m", 2)] == [
        (T0 + timedelta(minutes=11), D("5.35"), D("5.35"), D("5.35"), D("5.35")),
        (NOW, D("5.35"), D("5.35"), D("5.35"), D("5.35"))]
    with pytest.raises(ValueError):
        ex.candles(APT, "4h", 3)
    with pytest.raises(VenueError) as err:
        ex.candles("NOPE-USDT-SWAP", "5m", 3)
    assert err.value.code == "51001"


def test_before_its_start_the_history_is_made_up_the_same_way_every_time():
    def chart():
        clock = StepClock()
        ex = new_exchange(clock=clock)  # the seeded walk, run backwards from 5.2 at T0
        play(ex, clock, APT, APT_MOVES)
        return ex.candles(APT, "5m", 96)

    first, again = chart(), chart()
    assert first == again and len(first) == 96
    assert [c.time for c in first] == [T0 + timedelta(minutes=10 - 5 * n)
                                       for n in range(95, -1, -1)]
    made_up = first[:-3]
    assert all(c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high for c in made_up)
    assert len({c.close for c in made_up}) > 10  # a walk, not a flat line
    assert first[-3].open == D("5.2")  # the real history starts at the starting mark


def test_the_history_stays_bounded_however_long_it_runs(ex, clock):
    for minute in range(2000):
        clock.now = T0 + timedelta(minutes=minute)
        ex.set_mark(APT, D("5.2") + D("0.001") * (minute % 7))
    bars = ex.candles(APT, "1m", 10_000)
    assert len(bars) == 300  # MAX_BARS, of every bar length
    assert bars[-1].time == T0 + timedelta(minutes=1999)
    # what is kept, not only what is shown (a peek inside: memory is the point here)
    assert all(len(kept) <= 300 for kept in ex.market.history._bars.values())


async def test_the_paper_venue_gives_its_exchange_candles(ex, clock):
    play(ex, clock, APT, APT_MOVES)
    venue = PaperVenue(ex, "main")
    assert await venue.candles(APT, "5m", 2) == ex.candles(APT, "5m", 2)
    assert (await venue.candles(APT))[-1].close == D("5.35")  # 96 bars of 5m by default
    assert len(await venue.candles(APT)) == 96


def _ohlc(candle):
    return (candle.time, candle.open, candle.high, candle.low, candle.close)


def test_the_random_walk_does_not_drift_with_the_tick():
    """An hour of one-second steps: a cheap coin whose step is a few ticks stays around
    its start (rounding every step down lost half a tick a second: CRV fell 0.45 -> 0.25)."""
    ex = new_exchange()
    start = ex.market.mark("CRV-USDT-SWAP")
    for _ in range(3600):
        ex.market.walk()
    assert abs(ex.market.mark("CRV-USDT-SWAP") / start - 1) < D("0.15")
