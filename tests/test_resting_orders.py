"""Resting orders followed across runs (issue 14): a grid level rests for days, so it is
sent and left resting, and each run looks at it by its client id — a fill recorded once
whichever run sees it, a restart finding it again, a vanished order declared lost only
after repeated not-founds, an outage deciding nothing."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from bot.domain import OrderRequest, OrderSide, OrderState, OrderType, Side, TimeInForce
from bot.execution import LOOKUPS_BEFORE_LOST, Executor, FollowSettings
from bot.venues.base import OrderUnknown, VenueUnavailable
from bot.venues.paper import PaperVenue
from bot.venues.paper.demo import new_exchange
from db.aio import AsyncStore

APT = "APT-USDT-SWAP"
FAST = FollowSettings(timeout_seconds=0.3, poll_seconds=0.01, poll_max_seconds=0.05,
                      late_window_seconds=0.2, backoff_seconds=0.01)


@pytest.fixture
def exchange():
    ex = new_exchange()
    ex.market.freeze()
    ex.set_mark(APT, D(5))
    ex.add_account("main", D("1000"))
    return ex


def buy_at(price, size="10"):
    return OrderRequest("", APT, OrderSide.BUY, Side.LONG, OrderType.LIMIT, D(size), D(price),
                        time_in_force=TimeInForce.GTC)


async def rested(store, exchange, price="4.8"):
    """A BUY resting below the market, as a grid's level: (venue, executor, its step)."""
    venue, executor = PaperVenue(exchange, "main"), Executor(AsyncStore(store), client_prefix="t",
                                                             follow=FAST)
    action = store.create_action("grid", "main", APT, "long", "rule", {"grid": "apt"})
    outcome = await executor.order_step(venue, action, 1, "buy", buy_at(price), rest=True)
    [step] = store.action_with_steps(action).steps
    return venue, executor, step, outcome


async def test_a_resting_order_is_sent_and_left_resting(store, exchange):
    _, _, step, outcome = await rested(store, exchange)

    assert outcome.state is OrderState.LIVE and outcome.filled_size == 0
    assert step.state.value == "sent" and [s.state.value for s in store.unfinished_steps()] == [
        "sent"]
    [order] = exchange.orders.values()
    assert order.state is OrderState.LIVE


async def test_each_run_sees_it_and_a_fill_is_recorded_once(store, exchange):
    venue, executor, step, _ = await rested(store, exchange)

    quiet = await executor.track(venue, step)
    exchange.set_mark(APT, D("4.7"))  # the market comes down through the level: it fills
    filled = await executor.track(venue, store.action_with_steps(step.action_id).steps[0])
    again = await executor.track(venue, store.action_with_steps(step.action_id).steps[0])

    assert (quiet.order.state, quiet.new_fills) == (OrderState.LIVE, 0)
    assert (filled.order.state, filled.order.filled_size, filled.new_fills) == (
        OrderState.FILLED, D(10), 1)
    assert again.new_fills == 0  # seen once, whichever run sees it
    assert store.action_with_steps(step.action_id).steps[0].state.value == "final"
    assert len(store.fills_for_order("main", step.client_id)) == 1


async def test_a_restart_finds_it_by_its_client_id(store, exchange):
    _, _, step, _ = await rested(store, exchange)
    after_restart = Executor(AsyncStore(store), client_prefix="t", follow=FAST)  # nothing in memory

    [open_step] = store.unfinished_steps()
    seen = await after_restart.track(PaperVenue(exchange, "main"), open_step)

    assert seen.order.client_id == step.client_id and seen.order.state is OrderState.LIVE
    assert len(exchange.orders) == 1


async def test_a_vanished_order_is_lost_only_after_repeated_not_founds(store, exchange):
    venue, executor, step, _ = await rested(store, exchange)
    answers = []

    async def vanished(symbol, client_id):
        answers.append(1)
        if len(answers) == 2:  # an outage in between decides nothing
            raise VenueUnavailable("busy", code="50013", venue="paper")
        raise OrderUnknown("not found", code="51603", venue="paper")

    venue.order_by_client_id = vanished
    looks = []
    for _ in range(LOOKUPS_BEFORE_LOST + 1):
        current = store.action_with_steps(step.action_id).steps[0]
        try:
            looks.append(await executor.track(venue, current))
        except VenueUnavailable:
            looks.append(None)

    assert [t.lost if t else None for t in looks] == [False, None] + [False] * (
        LOOKUPS_BEFORE_LOST - 2) + [True]
    final = store.action_with_steps(step.action_id).steps[0]
    assert (final.state.value, final.error_code) == ("failed", "lost")
