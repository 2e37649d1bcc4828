"""`Closing` on the paper venue: the preview a `/close` confirms (one market order when the
book holds the size, reduce-only limit batches on a thin book), the one close path every
command and rule runs (journaled as an action that ends done, partial or failed), and the
confirmed command, which reads the position again and sends nothing when it is gone,
smaller, or busy with another action."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.closing import CloseMethod
from bot.domain import OrderSide, OrderType, Side, TimeInForce
from bot.ops.close import Amount
from bot.ops.events import CloseFinished
from bot.ops.refusal import Contracts, Refusal
from bot.venues.base import VenueUnavailable
from tests.opskit import APT, BTC, D, closing, make_rig

KEY = ("main", APT, "long")


async def long_apt(rig, size="100"):
    rig.seed("main", APT, Side.LONG, size)
    [position] = await rig.ops.positions.find("APT", "main", Side.LONG)
    return position


def thin_book(rig):
    """20 APT on the bid within the slippage bound: a 100 APT close cannot go at market."""
    rig.exchange.market.set_book(APT, bids=[(D("5.0"), D(10)), (D("4.99"), D(10))],
                                 asks=[(D("5.01"), D(10))])


async def test_preview_of_a_close_the_book_holds_is_one_reduce_only_market_order(store):
    rig = make_rig(store)
    position = await long_apt(rig)

    plan = await rig.ops.closing.preview(position, Amount("all"))

    assert (plan.size, plan.method) == (D(100), CloseMethod.MARKET)
    [order] = plan.orders
    assert (order.side, order.type, order.size, order.reduce_only, order.time_in_force) == (
        OrderSide.SELL, OrderType.MARKET, D(100), True, TimeInForce.IOC)
    assert order.price == D("4.975")  # best bid 4.999 less the 0.5 % slippage bound
    assert (plan.estimated_price, plan.estimated_pnl) == (D("4.999"), D("-0.1"))
    assert rig.orders() == []  # a preview sends nothing


async def test_preview_on_a_thin_book_is_reduce_only_limit_batches(store):
    rig = make_rig(store)
    position = await long_apt(rig)
    thin_book(rig)

    plan = await rig.ops.closing.preview(position, Amount("all"))

    assert plan.method is CloseMethod.LIMIT_BATCHES
    assert [(o.side, o.type, o.size, o.price, o.reduce_only, o.time_in_force)
            for o in plan.orders] == [
        (OrderSide.SELL, OrderType.LIMIT, D(20), D("4.975"), True, TimeInForce.GTT)] * 5
    assert {o.expire_at for o in plan.orders} == {rig.clock() + timedelta(hours=1)}
    assert plan.estimated_price == D("4.975")
    assert rig.orders() == []


@pytest.mark.parametrize(("amount", "size"), [
    (Amount("percent", D(25)), D(25)),
    (Amount("coin", D("30.7")), D(30)),  # rounded down to the lot
    (Amount("percent", D(100)), D(100)),
])
async def test_preview_sizes(store, amount, size):
    rig = make_rig(store)
    position = await long_apt(rig)

    assert (await rig.ops.closing.preview(position, amount)).size == size


@pytest.mark.parametrize(("symbol", "amount", "key"), [
    (APT, Amount("percent", D(150)), "percent_over"),
    (APT, Amount("coin", D(101)), "above_position"),
    (BTC, Amount("coin", D("0.00001")), "below_minimum"),  # a thousandth of a contract
])
async def test_preview_refuses_sizes_it_cannot_close(store, symbol, amount, key):
    rig = make_rig(store)
    rig.seed("main", symbol, Side.LONG, *(("100", "5") if symbol == APT else ("1", "95000")))
    [position] = await rig.ops.positions.find(symbol)

    with pytest.raises(Refusal) as refused:
        await rig.ops.closing.preview(position, amount)

    assert refused.value.key == key


async def test_preview_refuses_when_the_book_cannot_be_read(store):
    rig = make_rig(store)
    position = await long_apt(rig)

    async def down(symbol, depth=5):
        raise VenueUnavailable("maintenance", code="50001", venue="paper")

    rig.venues["main"].order_book = down  # type: ignore[method-assign]

    with pytest.raises(Refusal) as refused:
        await rig.ops.closing.preview(position, Amount("all"))

    assert refused.value.key == "venue_read_failed"
    assert refused.value.values == {"error": "paper 50001 maintenance"}


async def test_the_close_path_journals_the_action_before_sending_and_ends_it_done(store):
    rig = make_rig(store)
    position = await long_apt(rig)
    seen_when_journaled = []

    async def journaled(action):
        seen_when_journaled.append((action, store.action_with_steps(action).state.value,
                                    list(rig.orders())))

    closed = await rig.ops.closing.close(position, D(40), kind="close", origin="command",
                                         plan={"size": "40"}, journaled=journaled)

    assert seen_when_journaled == [(closed.action, "planned", [])]
    assert rig.orders() == [closing("main", "40")]
    assert rig.position("main").size == D(60)
    action = store.action_with_steps(closed.action)
    assert (action.kind, action.origin.value, action.state.value) == ("close", "command", "done")
    assert action.result["filled"] == "40" and action.result["errors"] == []
    assert [(s.seq, s.state.value, s.client_id) for s in action.steps] == [
        (1, "final", f"ta{closed.action}s1")]
    assert closed.result.state == "done"


async def test_the_close_path_ends_partial_when_limit_batches_fill_in_part(store):
    rig = make_rig(store)
    position = await long_apt(rig)
    rig.exchange.market.set_book(APT, bids=[(D("5.0"), D(10))], asks=[(D("5.01"), D(10))])
    # The venue's time is past the batches' good-till-time: they expire at the first look.
    rig.exchange.clock = lambda: rig.clock() + timedelta(hours=2)

    closed = await rig.ops.closing.close(position, D(100), kind="close", origin="command",
                                         plan={})

    assert closed.result.plan.method is CloseMethod.LIMIT_BATCHES
    assert [o[5] for o in rig.orders()] == [True] * 5  # every batch reduce-only
    assert sum(o[4] for o in rig.orders()) == D(100)
    assert closed.result.filled_size == D(10)
    assert rig.position("main").size == D(90)
    assert store.action_with_steps(closed.action).state.value == "partial"


async def test_the_close_path_ends_failed_when_the_venue_refuses_the_order(store):
    rig = make_rig(store)
    position = await long_apt(rig)
    rig.exchange.faults.reject_orders("51112", account="main", times=1)

    closed = await rig.ops.closing.close(position, D(40), kind="close", origin="command",
                                         plan={})

    assert rig.orders() == []
    assert rig.position("main").size == D(100)
    action = store.action_with_steps(closed.action)
    assert action.state.value == "failed"
    assert [(s.state.value, s.error_code) for s in action.steps] == [("failed", "51112")]
    assert not await rig.ops.closing.sent_anything(closed.action)


async def test_a_busy_position_is_refused_and_nothing_is_sent_or_journaled(store):
    rig = make_rig(store)
    position = await long_apt(rig)

    with rig.ctx.busy.hold(KEY), pytest.raises(Refusal) as refused:
        await rig.ops.closing.close(position, D(40), kind="close", origin="command", plan={})

    assert refused.value.key == "position_busy"
    assert refused.value.values == {"symbol": APT, "side": "long", "account": "main"}
    assert rig.orders() == [] and store.recent_actions() == []


async def command(rig, side, size, started=None):
    async def noted(position):
        if started is not None:
            started.append(position.size)

    return await rig.ops.closing.run_command(
        "main", APT, side, D(size), requested_by=1001, chat_id=77, message_id=5,
        plan={"size": size}, started=noted)


async def test_a_venue_that_cannot_be_read_on_confirm_is_a_refusal(store):
    rig = make_rig(store)
    await long_apt(rig)

    async def down(*args, **kwargs):
        raise VenueUnavailable("Service temporarily unavailable", code="50001", venue="paper")

    rig.venues["main"].positions = down  # type: ignore[method-assign]
    with pytest.raises(Refusal) as refused:
        await command(rig, Side.LONG, "25")

    assert refused.value.key == "venue_read_failed"
    assert rig.orders() == [] and store.recent_actions() == []


async def test_a_confirmed_close_runs_reports_and_publishes_close_finished(store):
    rig = make_rig(store)
    await long_apt(rig)
    started = []

    position, result = await command(rig, Side.LONG, "25", started)

    assert started == [D(100)]
    assert (position.size, result.filled_size, result.state) == (D(100), D(25), "done")
    assert rig.orders() == [closing("main", "25")]
    [finished] = rig.of(CloseFinished, delivered=True)
    assert finished.name == "close_done" and finished.result is result
    [action] = store.recent_actions()
    assert (action.id, action.requested_by, action.chat_id, action.message_id) == (
        finished.action, 1001, 77, 5)
    [row] = rig.recorded("close_done")
    assert (row.account, row.symbol, row.side, row.action_id) == ("main", APT, "long",
                                                                  action.id)


async def test_a_confirmed_close_of_a_position_now_gone_is_refused(store):
    rig = make_rig(store)
    position = await long_apt(rig)
    await rig.ops.closing.close(position, D(100), kind="close", origin="command", plan={})
    sent = rig.orders()

    with pytest.raises(Refusal) as refused:
        await command(rig, Side.LONG, "25")

    assert refused.value.key == "changed_gone"
    assert refused.value.values == {"symbol": APT, "side": "long", "account": "main"}
    assert rig.orders() == sent and len(store.recent_actions()) == 1
    assert rig.of(CloseFinished) == []


async def test_a_confirmed_close_larger_than_what_is_now_held_is_refused(store):
    rig = make_rig(store)
    position = await long_apt(rig)
    await rig.ops.closing.close(position, D(60), kind="close", origin="command", plan={})
    sent = rig.orders()

    with pytest.raises(Refusal) as refused:
        await command(rig, Side.LONG, "50")

    assert refused.value.key == "changed_smaller"
    assert refused.value.values == {"held": Contracts(D(40), position.instrument)}
    assert rig.orders() == sent and len(store.recent_actions()) == 1


async def test_a_confirmed_close_of_a_busy_position_is_refused(store):
    rig = make_rig(store)
    await long_apt(rig)

    with rig.ctx.busy.hold(KEY), pytest.raises(Refusal) as refused:
        await command(rig, Side.LONG, "25")

    assert refused.value.key == "position_busy"
    assert rig.orders() == [] and store.recent_actions() == []
