"""Orders followed to the end on the paper venue: the close procedure, faults, restarts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from bot.closing import CloseMethod, execute_close, plan_close
from bot.config_rules import CloseSettings
from bot.domain import OrderRequest, OrderSide, OrderState, OrderType, Side, TimeInForce
from bot.execution import Executor, FollowSettings, client_id_for
from bot.sizing import close_size_for_percent
from bot.venues.base import RequestTimeout
from bot.venues.paper import PaperVenue
from bot.venues.paper.demo import new_exchange
from db.aio import AsyncStore

APT = "APT-USDT-SWAP"
FAST = FollowSettings(timeout_seconds=0.3, poll_seconds=0.01, poll_max_seconds=0.05,
                      late_window_seconds=0.2,
                      backoff_seconds=0.01)


@pytest.fixture
def exchange():
    ex = new_exchange()
    ex.market.freeze()
    ex.add_account("main", D("1000"))
    ex.seed_position("main", APT, Side.LONG, D("100"), D("5"), D("10"))
    return ex


@pytest.fixture
def venue(exchange):
    return PaperVenue(exchange, "main")


@pytest.fixture
def executor(store):
    return Executor(AsyncStore(store), client_prefix="t1", follow=FAST)


def new_action(store, size="25"):
    return store.create_action("close", "main", APT, "long", "command", {"size": size})


async def close_plan(venue, size, settings):
    position = next(p for p in await venue.positions() if p.symbol == APT)
    book = await venue.order_book(APT, settings.book_levels)
    return plan_close(position, size, book, settings, datetime.now(UTC))


async def test_market_close_of_25_percent(store, exchange, venue, executor):
    settings = CloseSettings()
    position = (await venue.positions())[0]
    size = close_size_for_percent(position.size, D("25"), position.instrument)
    plan = await close_plan(venue, size, settings)
    assert (plan.method, len(plan.orders)) == (CloseMethod.MARKET, 1)
    action = new_action(store)

    result = await execute_close(executor, venue, action, plan, settings)

    [order] = exchange.orders.values()
    assert (order.side, order.position_side, order.reduce_only, order.size) == (
        OrderSide.SELL, Side.LONG, True, D("25"))
    assert order.client_id == client_id_for("t1", action, 1)
    fills = exchange.account_fills("main")
    assert result.filled_size == D("25") == sum(f.size for f in fills)
    assert result.fee == sum(f.fee for f in fills)
    assert result.realized_pnl == sum(f.realized_pnl for f in fills)
    assert (await venue.positions())[0].size == D("75")
    recorded = store.get_order("main", order.client_id)
    assert recorded.order.state is OrderState.FILLED
    assert len(store.fills_for_order("main", order.client_id)) == len(fills)
    [step] = store.action_with_steps(action).steps
    assert (step.state, step.result["filled_size"]) == ("final", "25")


async def test_thin_book_goes_to_limit_batches_and_reports_partial(store, exchange, venue,
                                                                   executor):
    settings = CloseSettings(gtt_seconds=1, batch_interval_seconds=D(0))
    exchange.market.set_book(APT, bids=[(D("5.200"), D("3")), (D("5.000"), D("500"))],
                             asks=[(D("5.21"), D("100"))])
    plan = await close_plan(venue, D("25"), settings)
    assert plan.method is CloseMethod.LIMIT_BATCHES
    assert [o.size for o in plan.orders] == [D("5")] * 5
    assert {(o.price, o.time_in_force, o.reduce_only) for o in plan.orders} == {
        (D("5.174"), TimeInForce.GTT, True)}  # best bid 5.2 less 0.5%, on the tick

    result = await execute_close(executor, venue, new_action(store), plan, settings)

    assert result.filled_size == D("3")  # what the book held above the limit price
    assert result.unfilled_size == D("22")
    assert sorted(o.state for o in result.outcomes) == [OrderState.EXPIRED] * 5
    assert (await venue.positions())[0].size == D("97")


async def test_accepted_but_never_filled_is_reported_unfilled_and_cancelled(
        store, exchange, venue, executor):
    exchange.faults.never_fill("main")
    plan = await close_plan(venue, D("10"), CloseSettings())
    result = await execute_close(executor, venue, new_action(store), plan,
                                 CloseSettings(follow_timeout_seconds=1))
    [outcome] = result.outcomes
    assert (outcome.state, outcome.filled_size) == (OrderState.CANCELED, D("0"))
    assert exchange.open_orders("main") == []
    assert (await venue.positions())[0].size == D("100")


async def test_timeout_after_accept_finds_the_order_instead_of_sending_another(
        store, exchange, venue, executor):
    exchange.faults.timeout_after_accept(account="main")
    plan = await close_plan(venue, D("10"), CloseSettings())
    result = await execute_close(executor, venue, new_action(store), plan, CloseSettings())
    assert len(exchange.orders) == 1
    assert result.filled_size == D("10")
    assert (await venue.positions())[0].size == D("90")


@pytest.mark.parametrize(("code", "kind"), [("51008", "insufficient_margin"),
                                            ("51020", "below_minimum_size")])
async def test_rejections_name_the_venue_code(store, exchange, venue, executor, code, kind):
    exchange.faults.reject_orders(code, account="main")
    plan = await close_plan(venue, D("10"), CloseSettings())
    action = new_action(store)
    result = await execute_close(executor, venue, action, plan, CloseSettings())
    [outcome] = result.outcomes
    assert (outcome.error.code, outcome.error.kind) == (code, kind)
    assert code in result.errors[0]
    assert exchange.orders == {}
    [step] = store.action_with_steps(action).steps
    assert (step.state, step.error_code) == ("failed", code)


async def test_restart_between_sent_and_final_reconciles_without_a_second_order(
        store, exchange, venue, executor):
    action = new_action(store)
    client_id = client_id_for("t1", action, 1)
    request = OrderRequest(client_id, APT, OrderSide.SELL, Side.LONG, OrderType.LIMIT,
                           D("10"), D("9"), reduce_only=True)
    step = store.add_step(action, 1, "close", {"symbol": APT}, client_id)
    await venue.place_order(request)
    store.update_step(step, state="sent")
    # ... the process stops here; the order then fills while the bot is down
    exchange.set_mark(APT, D("9"))

    restarted = Executor(AsyncStore(store), client_prefix="t1", follow=FAST)
    lines = await restarted.reconcile({"main": venue}, store.unfinished_steps(),
                                      {action: "main"}, adopt=_nobody)
    assert lines == [f"main {APT} {client_id}: filled, filled 10 of 10"]
    assert store.unfinished_steps() == []
    assert store.get_order("main", client_id).order.state is OrderState.FILLED
    # running the same step again finds the order: still one order on the venue
    outcome = await restarted.order_step(venue, action, 1, "close", request)
    assert outcome.order.venue_id == next(iter(exchange.orders))
    assert len(exchange.orders) == 1


async def test_restart_after_journaling_but_before_sending_sends_once(store, exchange, venue,
                                                                      executor):
    action = new_action(store)
    client_id = client_id_for("t1", action, 1)
    store.add_step(action, 1, "close", {"symbol": APT}, client_id)  # intended, never sent
    request = OrderRequest("", APT, OrderSide.SELL, Side.LONG, OrderType.MARKET, D("10"),
                           D("4"), reduce_only=True)
    outcome = await executor.order_step(venue, action, 1, "close", request)
    assert outcome.state is OrderState.FILLED
    assert len(exchange.orders) == 1


async def test_an_outage_after_sending_leaves_the_step_open_for_the_next_start(
        store, exchange, venue, executor):
    from bot.venues.base import VenueUnavailable

    exchange.faults.timeout_after_accept(account="main")

    async def down(symbol, client_id):
        raise VenueUnavailable("502 Bad Gateway", code="50026", venue="paper")

    venue.order_by_client_id = down
    plan = await close_plan(venue, D("10"), CloseSettings())
    action = new_action(store)
    result = await execute_close(executor, venue, action, plan, CloseSettings())
    [outcome] = result.outcomes
    assert not result.settled and outcome.error.code == "50026"
    assert [s.state for s in store.unfinished_steps()] == ["sent"]  # looked up at next start
    assert len(exchange.orders) == 1



def _late_landing(venue, lands_at_lookup):
    """Every placement times out without reaching the venue at once; the first request
    lands late, when the `lands_at_lookup`-th look-up is made (None: never)."""
    place, lookup, sent, lookups = venue.place_order, venue.order_by_client_id, [], []

    async def times_out(request):
        sent.append(request)
        raise RequestTimeout("no answer in time", code="timeout", venue="paper")

    async def lands_late(symbol, client_id):
        lookups.append(client_id)
        if len(lookups) == lands_at_lookup:
            await place(sent[0])
        return await lookup(symbol, client_id)

    venue.place_order, venue.order_by_client_id = times_out, lands_late
    return sent


OPEN = OrderRequest("", APT, OrderSide.BUY, Side.LONG, OrderType.MARKET, D("10"), D("6"),
                    time_in_force=TimeInForce.IOC)
LATE = replace(FAST, late_window_seconds=0.5)


async def test_an_order_of_unknown_fate_is_not_sent_again_while_it_could_land(
        store, exchange, venue):
    """Issue 11, case 3: the open's answer times out and the venue has not heard of it for
    a few look-ups; it lands later. Sent once: one open, not two."""
    sent = _late_landing(venue, lands_at_lookup=7)
    outcome = await Executor(AsyncStore(store), client_prefix="t1", follow=LATE).order_step(
        venue, new_action(store), 1, "open", OPEN)

    assert len(sent) == 1 and len(exchange.orders) == 1
    assert outcome.order is not None and outcome.filled_size == D(10)


async def test_an_order_still_unknown_after_the_late_window_is_left_open_not_resent(
        store, exchange, venue):
    sent = _late_landing(venue, lands_at_lookup=None)
    action = new_action(store)
    outcome = await Executor(AsyncStore(store), client_prefix="t1", follow=LATE).order_step(
        venue, action, 1, "open", OPEN)

    assert len(sent) == 1 and exchange.orders == {}
    assert outcome.error.kind == "fate_unknown" and not outcome.settled
    [step] = store.action_with_steps(action).steps
    assert step.state == "sent"  # the next start looks it up again


def _nobody(*order) -> None:
    raise AssertionError(f"a final order is not handed on: {order}")


async def test_an_orders_fills_are_read_by_its_venue_id_not_looked_up_again(
        store, exchange, venue, executor):
    """The order was just seen: its venue id goes with the fills read, so a venue that
    reads fills by order id (OKX) needs no look-up by client id first."""
    asked = []
    fills = venue.fills

    async def reading(symbol=None, **ids):
        asked.append(ids)
        return await fills(symbol, **ids)

    venue.fills = reading
    action = new_action(store)
    request = OrderRequest("", APT, OrderSide.SELL, Side.LONG, OrderType.MARKET, D(25),
                           None, reduce_only=True, time_in_force=TimeInForce.IOC)

    outcome = await executor.order_step(venue, action, 0, "close", request)

    assert outcome.settled and len(outcome.fills) == 1
    assert asked == [{"client_id": outcome.client_id, "venue_id": outcome.order.venue_id}]
