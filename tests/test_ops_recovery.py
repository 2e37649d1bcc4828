"""`Recovery` on the paper venue: what a previous run left unfinished, taken up at start. A
close whose order was sent but never followed to its end is looked up by client id,
journaled as it ended and reported (`Reconciled`); a journaled maintenance is resumed
from its journal without repeating a filled step, or, while the bot is paused, offered
(`MaintenanceNotResumed`) and left for a [Retry]."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.domain import OrderState, Side
from bot.ops.events import JobFailed, MaintenanceFinished, MaintenanceNotResumed, Reconciled
from bot.rules.maintenance import Kind
from tests.opskit import APT, D, closing, make_config, make_rig, opening

KEY = ("sub1", APT, "long")
ONE_BATCH = make_config(rules={"close": {"batches": 1}})


async def stopped_following_a_resting_close(rig):
    """The bot sent a reduce-only GTT limit close of main's 100 APT long (nobody bids, so
    it rests) and was stopped while following it: the step is journaled as sent."""
    rig.seed("main", APT, Side.LONG, "100")
    rig.exchange.market.set_book(APT, bids=[], asks=[(D("5.01"), D(10))])
    [position] = await rig.ops.positions.find("APT", "main")

    async def stopped(*args, **kwargs):
        raise asyncio.CancelledError  # what stopping the bot does to a running close

    rig.ctx.executor.follow = stopped  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        await rig.ops.closing.close(position, D(100), kind="close", origin="command", plan={})
    [action] = rig.store.recent_actions()
    assert (action.state.value, [s.state.value for s in action.steps]) == ("running", ["sent"])
    return action.id


async def restarted(rig):
    """The next start: a new Context and Ops on the same database, recovery run."""
    again = rig.restart()
    stock = again.ops.recovery.take_stock()
    await again.ops.recovery.run(stock)
    return again


async def test_a_close_left_sent_is_looked_up_journaled_and_reported(store):
    rig = make_rig(store, ONE_BATCH)
    action_id = await stopped_following_a_resting_close(rig)
    rig.mark(APT, "4.98")  # while the bot was down, the mark crossed the 4.975 limit: filled

    again = await restarted(rig)

    assert rig.orders() == [closing("main", "100")]  # looked up, never sent twice
    [reconciled] = again.of(Reconciled, delivered=True)
    assert list(reconciled.lines) == [f"main {APT} ta{action_id}s1: filled, filled 100 of 100"]
    action = store.action_with_steps(action_id)
    assert (action.state.value, action.steps[0].state.value) == ("done", "final")
    assert action.steps[0].result["filled_size"] == "100"
    record = store.get_order("main", f"ta{action_id}s1")
    assert (record.order.state, record.order.filled_size) == (OrderState.FILLED, D(100))
    assert len(store.fills_for_order("main", f"ta{action_id}s1")) == 1
    [row] = again.recorded("reconciled")
    assert row.severity.value == "warning" and row.message == reconciled.lines[0]


async def test_a_start_with_nothing_unfinished_reports_nothing(store):
    rig = make_rig(store)
    rig.seed("main", APT, Side.LONG, "100")
    [position] = await rig.ops.positions.find("APT")
    await rig.ops.closing.close(position, D(40), kind="close", origin="command", plan={})

    again = await restarted(rig)

    assert again.published == [] and len(rig.orders()) == 1


def dies_before_placing(venue):
    """The bot died on its way to the venue: the step is journaled, the order never left."""
    async def died(request):
        raise SystemExit("the process died here")

    venue.place_order = died  # type: ignore[method-assign]


@pytest.mark.parametrize("how", ["never_placed", "expired_unfilled"])
async def test_a_reconciled_close_that_filled_nothing_ends_failed(store, how):
    rig = make_rig(store, ONE_BATCH)
    if how == "never_placed":
        rig.seed("main", APT, Side.LONG, "100")
        [position] = await rig.ops.positions.find("APT")
        dies_before_placing(rig.venues["main"])
        with pytest.raises(SystemExit):
            await rig.ops.closing.close(position, D(40), kind="close", origin="command",
                                        plan={})
    else:
        await stopped_following_a_resting_close(rig)
        rig.exchange.clock = lambda: rig.clock() + timedelta(hours=2)  # past its GTT
    [action] = store.recent_actions()

    again = await restarted(rig)

    assert rig.position("main").size == D(100)  # nothing was closed
    assert len(again.of(Reconciled)) == 1
    assert store.action_with_steps(action.id).state.value == "failed"


async def maintenance_died_after_sending_the_open(rig, *, paused=False):
    """sub1's normal maintenance: step 1 filled, the open reached the venue, then the bot
    died before it heard back."""
    rig.seed("sub1", APT, Side.LONG, "60")
    [position] = await rig.ops.positions.find("APT", "sub1")
    planned = await rig.ops.maintenance.plan(Kind.NORMAL, position)
    action_id = await rig.ops.maintenance.start(planned.plan, origin="command",
                                                requested_by=1001, chat_id=77, message_id=5)
    venue = rig.venues["sub1"]
    place, calls = venue.place_order, []

    async def dies_on_the_second_order(request):
        calls.append(request)
        order = await place(request)
        if len(calls) == 2:
            raise SystemExit("the process died here")
        return order

    venue.place_order = dies_on_the_second_order  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        await rig.ops.maintenance.run(action_id)
    assert rig.orders() == [closing("sub1", "60"), opening("sub1", "600")]
    if paused:
        await rig.ops.control.pause(1001)
    return action_id


async def test_a_journaled_maintenance_is_resumed_without_repeating_a_step(store):
    rig = make_rig(store)
    action_id = await maintenance_died_after_sending_the_open(rig)

    again = await restarted(rig)

    assert rig.orders() == [closing("sub1", "60"), opening("sub1", "600"),
                            closing("sub1", "552")]
    [finished] = again.of(MaintenanceFinished, delivered=True)
    assert (finished.name, finished.action, finished.report.count) == (
        "maintenance_done", action_id, 1)
    assert (finished.chat_id, finished.message_id) == (77, 5)  # reports where it began
    assert store.action_with_steps(action_id).state.value == "done"
    assert await again.ops.maintenance.count(KEY) == 1
    assert again.of(Reconciled) == []  # its steps are the maintenance's own business


async def test_a_journaled_maintenance_is_offered_not_resumed_while_paused(store):
    rig = make_rig(store)
    action_id = await maintenance_died_after_sending_the_open(rig, paused=True)

    again = await restarted(rig)

    assert rig.orders() == [closing("sub1", "60"), opening("sub1", "600")]  # nothing sent
    [offered] = again.of(MaintenanceNotResumed, delivered=True)
    assert (offered.action, offered.chat_id, offered.requested_by, offered.plan.open_size) == (
        action_id, 77, 1001, D(600))
    action = store.action_with_steps(action_id)
    assert (action.state.value, action.error) == ("partial", "not resumed: the bot is paused")
    assert await again.ops.maintenance.count(KEY) == 0

    await again.ops.maintenance.retry(action_id, chat_id=77, message_id=6)  # [Retry]

    assert rig.orders() == [closing("sub1", "60"), opening("sub1", "600"),
                            closing("sub1", "552")]
    assert store.action_with_steps(action_id).state.value == "done"


async def test_a_resume_that_fails_does_not_stop_the_rest_of_the_recovery(store):
    """One maintenance cannot be resumed (its venue errs unexpectedly): it is reported as a
    failed recovery, and the close left sent by the same run is still reconciled."""
    rig = make_rig(store, ONE_BATCH)
    close_id = await stopped_following_a_resting_close(rig)
    rig.mark(APT, "4.98")
    maintenance = store.create_action("maintain", "sub1", APT, "long", "command", {})
    store.update_action(maintenance, state="running")
    again = rig.restart()
    stock = again.ops.recovery.take_stock()

    async def breaks(action_id):
        raise RuntimeError("the journal could not be read")

    again.ops.maintenance.run = breaks  # type: ignore[method-assign]
    await again.ops.recovery.run(stock)

    [failed] = again.of(JobFailed, delivered=True)
    assert failed.problem == "RuntimeError: the journal could not be read"
    [reconciled] = again.of(Reconciled, delivered=True)
    assert any(f"ta{close_id}s1: filled" in line for line in reconciled.lines)
