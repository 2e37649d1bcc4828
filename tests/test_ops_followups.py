"""Orders are never abandoned while live (issue 11, cases 1 and 5): a cancel that times
out is retried, and an order still live when its close stopped waiting, or whose fills
could not be read, is followed in the background until the venue says what it became; at
start, what a previous run left is reported at once and the orders still resting are
followed on, not waited for."""

from __future__ import annotations

import asyncio
import contextlib

from bot.domain import OrderState, Side
from bot.execution import LOOKUPS_THROUGH_OUTAGE
from bot.ops.events import ActionSettled, Reconciled
from bot.venues.base import RequestTimeout, VenueUnavailable
from tests.opskit import APT, D, make_config, make_rig

FAST_MARKET = make_config(rules={"close": {"follow_timeout_seconds": 1}})


def cancels_time_out(venue, times=None):
    """The venue takes no cancel (`times` of them, or all): each request times out."""
    cancel, calls = venue.cancel_order, []

    async def timed_out(*args, **kwargs):
        calls.append(1)
        if times is None or len(calls) <= times:
            raise RequestTimeout("cancel timed out", code="timeout", venue="paper")
        return await cancel(*args, **kwargs)

    venue.cancel_order = timed_out
    return cancel, calls


async def stuck_close(rig):
    """main's APT long of 100; a market close of 40 that the venue accepts and never fills."""
    rig.seed("main", APT, Side.LONG, "100")
    rig.exchange.faults.never_fill(account="main")
    [position] = await rig.ops.positions.find("APT", "main")
    return position


async def test_a_cancel_that_times_out_is_retried(store):
    rig = make_rig(store, FAST_MARKET)
    position = await stuck_close(rig)
    _, calls = cancels_time_out(rig.venues["main"], times=2)

    closed = await rig.ops.closing.close(position, D(40), kind="close", origin="command",
                                         plan={})

    [order] = rig.exchange.orders.values()
    assert order.state is OrderState.CANCELED and len(calls) == 3
    assert store.action_with_steps(closed.action).state.value == "failed"  # nothing filled
    assert store.unfinished_steps() == []


async def test_an_order_whose_cancel_never_gets_through_is_followed_to_its_end(store):
    rig = make_rig(store, FAST_MARKET)
    position = await stuck_close(rig)
    cancel, _ = cancels_time_out(rig.venues["main"])

    closed = await rig.ops.closing.close(position, D(40), kind="close", origin="command",
                                         plan={})

    # the close stopped waiting with its order live: the action is not over
    assert store.action_with_steps(closed.action).state.value == "running"
    assert [s.state.value for s in store.unfinished_steps()] == ["sent"]
    rig.exchange.faults.never_fill(account="main", enabled=False)
    rig.exchange.set_mark(APT, D("5"))  # it fills after all, later
    [order] = rig.exchange.orders.values()
    rig.venues["main"].cancel_order = cancel  # and the venue takes cancels again
    await asyncio.wait_for(rig.ops.followups.settled(), 10)

    [settled] = rig.of(ActionSettled, delivered=True)
    assert (settled.action, settled.kind, settled.meant) == (closed.action, "close", D(40))
    action = store.action_with_steps(closed.action)
    assert action.state.value == settled.state and store.unfinished_steps() == []
    assert len(rig.exchange.orders) == 1  # followed, never sent again


async def test_at_start_a_resting_order_does_not_hold_up_the_report(store):
    rig = make_rig(store, make_config(rules={"close": {"batches": 2}}))
    rig.seed("main", APT, Side.LONG, "100")
    rig.exchange.market.set_book(APT, bids=[], asks=[(D("5.01"), D(10))])  # nobody bids
    [position] = await rig.ops.positions.find("APT", "main")

    async def stopped(*args, **kwargs):
        raise asyncio.CancelledError  # the bot stopped while following its two batches

    rig.ctx.executor.follow = stopped
    with contextlib.suppress(asyncio.CancelledError):
        await rig.ops.closing.close(position, D(100), kind="close", origin="command", plan={})
    await rest_of_the_stop()
    again = rig.restart()
    stock = again.ops.recovery.take_stock()

    await asyncio.wait_for(again.ops.recovery.run(stock), 5)  # no waiting for a GTT hour

    [reconciled] = again.of(Reconciled, delivered=True)
    assert [line.endswith("; followed until it ends") for line in reconciled.lines] == [
        True, True]
    assert again.of(ActionSettled) == []  # still resting, followed in the background
    for task in list(again.ops.followups._tasks):
        task.cancel()


async def test_a_batch_close_stopped_after_two_batches_ends_partial_not_done(store):
    """Issue 11, case 2: five batches of 20, two seconds apart; the bot stops once two were
    sent (10 filled, the rest resting). After the restart the three never sent are known
    from the journal, the two resting are followed to their end, and the action ends
    partial with 10 of 100 — not done — and that is told."""
    rig = make_rig(store, make_config(rules={"close": {"batches": 5,
                                                        "batch_interval_seconds": "2"}}))
    rig.seed("main", APT, Side.LONG, "100")
    rig.exchange.market.set_book(APT, bids=[(D("4.99"), D(10))], asks=[(D("5.01"), D(10))])
    [position] = await rig.ops.positions.find("APT", "main")
    venue, executor = rig.venues["main"], rig.ctx.executor
    place, sent = venue.place_order, []

    async def stopped(*args, **kwargs):
        raise asyncio.CancelledError  # what the stop does to the batches being followed

    async def stops_after_two(request):
        order = await place(request)
        sent.append(request)
        if len(sent) == 2:
            closing_task.cancel()  # the process stops before the third batch
        return order

    venue.place_order, executor.follow = stops_after_two, stopped
    closing_task = asyncio.create_task(rig.ops.closing.close(
        position, D(100), kind="close", origin="command", plan={}, chat_id=77, message_id=5))
    with contextlib.suppress(asyncio.CancelledError):
        await closing_task
    await rest_of_the_stop()
    [action] = store.recent_actions()
    assert [s.state.value for s in store.action_with_steps(action.id).steps] == [
        "sent", "sent", "planned", "planned", "planned"]
    again = rig.restart()
    stock = again.ops.recovery.take_stock()
    await asyncio.wait_for(again.ops.recovery.run(stock), 10)
    rig.clock.advance(2 * 3600)  # the two resting batches reach their good-till-time
    rig.exchange.expire_due()
    await asyncio.wait_for(again.ops.followups.settled(), 10)

    assert [r.size for r in sent] == [D(20), D(20)] and len(rig.exchange.orders) == 2
    [settled] = again.of(ActionSettled, delivered=True)
    assert (settled.state, settled.filled, settled.meant) == ("partial", D(10), D(100))
    assert (settled.chat_id, settled.message_id) == (77, 5)
    steps = store.action_with_steps(action.id).steps
    assert (store.action_with_steps(action.id).state.value,
            [s.state.value for s in steps]) == (
        "partial", ["final", "final", "skipped", "skipped", "skipped"])


async def rest_of_the_stop():
    """The rest of the stop: what still runs (a close's other batches) ends where the
    stop ends it, at its follow."""
    running = asyncio.all_tasks() - {asyncio.current_task()}
    await asyncio.wait_for(asyncio.gather(*running, return_exceptions=True), 10)


def fills_unreadable(venue, times):
    """The venue answers none of the next `times` reads of fills: an outage."""
    fills, calls = venue.fills, []

    async def down(*args, **kwargs):
        calls.append(1)
        if len(calls) <= times:
            raise VenueUnavailable("system busy", code="50026", venue="paper")
        return await fills(*args, **kwargs)

    venue.fills = down
    return calls


async def test_fills_unread_through_the_retries_are_read_again_in_the_background(store):
    """A filled close whose fills the venue would not give, beyond the retries: its fee
    and PnL are not known, so the step and the action stay open, and the fills are read
    again in the background until the venue answers; then the action ends, and says so."""
    rig = make_rig(store)
    rig.seed("main", APT, Side.LONG, "100")
    [position] = await rig.ops.positions.find("APT", "main")
    calls = fills_unreadable(rig.venues["main"], times=LOOKUPS_THROUGH_OUTAGE + 4)

    closed = await rig.ops.closing.close(position, D(40), kind="close", origin="command",
                                         plan={})

    assert len(calls) == LOOKUPS_THROUGH_OUTAGE  # retried, then left to the background
    [step] = store.unfinished_steps()
    assert step.state.value == "sent" and "fills not read yet" in step.error_message
    assert store.action_with_steps(closed.action).state.value == "running"
    await asyncio.wait_for(rig.ops.followups.settled(), 10)

    [order] = rig.exchange.orders.values()
    venue_fills = rig.exchange.account_fills("main", client_id=order.client_id)
    journaled = store.fills_for_order("main", order.client_id)
    assert len(journaled) == len(venue_fills) > 0
    assert sum(r.fill.fee for r in journaled) == sum(f.fee for f in venue_fills) != 0
    [settled] = rig.of(ActionSettled, delivered=True)
    assert (settled.state, settled.filled, settled.meant) == ("done", D(40), D(40))
    assert store.action_with_steps(closed.action).state.value == "done"
    assert store.unfinished_steps() == [] and len(rig.exchange.orders) == 1


async def test_at_start_an_order_whose_fills_cannot_be_read_is_read_again_later(store):
    """The previous run stopped with a close sent; at start the venue says it filled but
    gives none of its fills: the step stays open and its fills are read again in the
    background, then the action ends."""
    rig = make_rig(store)
    rig.seed("main", APT, Side.LONG, "100")
    [position] = await rig.ops.positions.find("APT", "main")

    async def stopped(*args, **kwargs):
        raise asyncio.CancelledError  # the bot stopped right after sending

    rig.ctx.executor.follow = stopped
    with contextlib.suppress(asyncio.CancelledError):
        await rig.ops.closing.close(position, D(40), kind="close", origin="command", plan={})
    again = rig.restart()
    fills_unreadable(again.venues["main"], times=LOOKUPS_THROUGH_OUTAGE + 4)
    stock = again.ops.recovery.take_stock()

    await asyncio.wait_for(again.ops.recovery.run(stock), 10)

    [reconciled] = again.of(Reconciled, delivered=True)
    assert [line.split(": ", 1)[1] for line in reconciled.lines] == [
        "filled, filled 40 of 40; its fills are read again until the venue answers"]
    await asyncio.wait_for(again.ops.followups.settled(), 10)
    [order] = rig.exchange.orders.values()
    assert len(store.fills_for_order("main", order.client_id)) == len(
        rig.exchange.account_fills("main", client_id=order.client_id)) > 0
    [settled] = again.of(ActionSettled)
    assert (settled.state, settled.filled) == ("done", D(40))
    assert store.unfinished_steps() == []
