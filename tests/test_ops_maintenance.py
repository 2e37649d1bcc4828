"""`Maintenance` on the paper venue: the plan a user confirms (normal: open ×10, keep 8 %;
super: the ladder by count), its refusals, and the journaled three-step action — close
the old position, open the new one, close most of it — with progress after each step,
one final report, the count, and a [Retry] that resumes from the failed step without
repeating a filled one."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain import Side
from bot.execution import LOOKUPS_THROUGH_OUTAGE
from bot.ops.events import MaintenanceBusy, MaintenanceFinished, MaintenanceProgress
from bot.ops.refusal import Contracts, Refusal, Usdt
from bot.rules.maintenance import Kind
from bot.venues.base import RequestTimeout
from tests.opskit import APT, D, closing, make_config, make_rig, opening

KEY = ("sub1", APT, "long")


async def anchor(rig, size="60"):
    """sub1's APT long of 30 USDT margin at 10x, as the demo has it."""
    rig.seed("sub1", APT, Side.LONG, size)
    [position] = await rig.ops.positions.find("APT", "sub1", Side.LONG)
    return position


async def started(rig, kind=Kind.NORMAL, **chat):
    planned = await rig.ops.maintenance.plan(kind, await anchor(rig))
    return planned, await rig.ops.maintenance.start(planned.plan, origin="command", **chat)


async def test_a_normal_plan_opens_ten_times_and_keeps_eight_percent(store):
    rig = make_rig(store)
    position = await anchor(rig)

    planned = await rig.ops.maintenance.plan(Kind.NORMAL, position)

    plan = planned.plan
    assert (plan.kind, plan.old_size, plan.open_size, plan.keep_share_pct, plan.price,
            plan.leverage, plan.count) == (Kind.NORMAL, D(60), D(600), D(8), D(5), D(10), 0)
    assert (planned.estimate.final_close, planned.estimate.kept) == (D(552), D(48))
    assert planned.estimate.open_margin() == D(300)
    # fees: (60 + 600 + 552) APT x 5 USDT x 0.05 %; free: 970 cash + 30 margin back
    assert (planned.fees, planned.free_after_close, planned.past_ladder) == (
        D("3.03"), D(1000), False)
    assert rig.orders() == [] and store.recent_actions() == []


async def test_a_super_plan_follows_the_ladder_by_count(store):
    rig = make_rig(store)
    position = await anchor(rig)
    rig.mark(APT, "4.8")

    first = await rig.ops.maintenance.plan(Kind.SUPER, position)
    store.put_rule_state(*KEY, "maintenance", {"count": 3})
    past = await rig.ops.maintenance.plan(Kind.SUPER, position)
    chosen = await rig.ops.maintenance.plan(Kind.SUPER, position, D(50), D(5))

    # 100 USDT x 10 / 4.8 = 208.3 -> 208; keep 10 USDT -> 20.8 -> 21 (up): close 187
    assert (first.plan.amount, first.plan.target, first.plan.open_size,
            first.estimate.final_close, first.past_ladder) == (D(100), D(10), D(208), D(187),
                                                              False)
    assert (past.plan.amount, past.plan.target, past.plan.count, past.past_ladder) == (
        D(200), D(20), 3, True)
    assert (chosen.plan.amount, chosen.plan.target, chosen.past_ladder) == (D(50), D(5), False)


async def test_a_super_target_not_below_its_amount_is_refused(store):
    rig = make_rig(store)
    position = await anchor(rig)

    with pytest.raises(Refusal) as refused:
        await rig.ops.maintenance.plan(Kind.SUPER, position, D(50), D(50))

    assert (refused.value.key, refused.value.values) == (
        "target_not_below", {"target": D(50), "amount": D(50)})


async def test_a_plan_the_balance_cannot_cover_is_refused_with_the_numbers(store):
    rig = make_rig(store, cash={"main": D(1000), "sub1": D(300)})
    position = await anchor(rig)  # 270 free + 30 back from the close < 300 margin + fees

    with pytest.raises(Refusal) as refused:
        await rig.ops.maintenance.plan(Kind.NORMAL, position)

    assert refused.value.key == "balance_short"
    assert refused.value.values == {"free": Usdt(D(300)), "needed": Usdt(D("303.03"))}
    assert rig.orders() == []


async def test_start_journals_the_plan_as_an_action(store):
    rig = make_rig(store)

    planned, action_id = await started(rig, requested_by=1001, chat_id=77, message_id=5)

    action = store.action_with_steps(action_id)
    assert (action.kind, action.account, action.symbol, action.side, action.origin.value,
            action.state.value) == ("maintain", "sub1", APT, "long", "command", "planned")
    assert action.plan == planned.plan.to_json()
    assert (action.requested_by, action.chat_id, action.message_id) == (1001, 77, 5)
    assert rig.orders() == []


async def test_start_refuses_a_position_that_changed_since_the_plan(store):
    rig = make_rig(store)
    planned = await rig.ops.maintenance.plan(Kind.NORMAL, await anchor(rig))
    rig.seed("sub1", APT, Side.LONG, "10")  # added to meanwhile: 70 held

    with pytest.raises(Refusal) as refused:
        await rig.ops.maintenance.start(planned.plan, origin="command")

    assert refused.value.key == "changed_size"
    assert refused.value.values == {"size": Contracts(D(70), planned.position.instrument)}
    assert rig.orders() == [] and store.recent_actions() == []


async def test_start_refuses_a_position_that_is_gone(store):
    rig = make_rig(store)
    position = await anchor(rig)
    planned = await rig.ops.maintenance.plan(Kind.NORMAL, position)
    await rig.ops.closing.close(position, D(60), kind="close", origin="command", plan={})

    with pytest.raises(Refusal) as refused:
        await rig.ops.maintenance.start(planned.plan, origin="command")

    assert refused.value.key == "changed_gone"
    assert len(rig.orders()) == 1 and [a.kind for a in store.recent_actions()] == ["close"]


async def test_run_closes_opens_and_closes_with_exact_sizes_and_counts_it(store):
    rig = make_rig(store)
    _, action_id = await started(rig, chat_id=77, message_id=5)
    store.put_rule_state(*KEY, "take_profit", {"fired": 2, "entry": "5"})

    report = await rig.ops.maintenance.run(action_id)

    assert rig.orders() == [closing("sub1", "60"), opening("sub1", "600"),
                            closing("sub1", "552")]
    assert rig.position("sub1").size == D(48)
    assert (report.result.done, report.left, report.count, report.running) == (
        True, D(48), 1, False)
    assert [report.result.steps[k].filled_size for k in (1, 2, 3)] == [D(60), D(600), D(552)]
    assert await rig.ops.maintenance.count(KEY) == 1
    assert store.get_rule_state(*KEY, "take_profit") == {}  # a fresh ladder
    action = store.action_with_steps(action_id)
    assert (action.state.value, action.result) == ("done", {"count": 1})


async def test_run_publishes_progress_in_order_then_one_final_report(store):
    """Progress comes in step order and before the final report; one a newer one
    supersedes before it is shown is skipped (the newer shows more), so the last step's,
    followed at once by the final report, is not shown."""
    rig = make_rig(store)
    rig.exchange.faults.latency_seconds = 0.01  # the venue answers after a while
    _, action_id = await started(rig, chat_id=77, message_id=5)
    shown = []

    async def show(event):  # as a front renders it: when it arrives
        if isinstance(event, MaintenanceProgress):
            steps = event.report.result.steps
            shown.append(([steps[k].filled_size for k in (1, 2, 3)], event.report.running,
                           event.chat_id, event.message_id))
        elif isinstance(event, MaintenanceFinished):
            shown.append("final")

    rig.ctx.events.subscribe(show)

    await rig.ops.maintenance.run(action_id)

    assert shown[0] == ([D(60), 0, 0], True, 77, 5)
    assert shown[1:] in (["final"], [([D(60), D(600), 0], True, 77, 5), "final"])
    [finished] = rig.of(MaintenanceFinished, delivered=True)
    assert (finished.name, finished.report.count, finished.action) == (
        "maintenance_done", 1, action_id)
    [row] = rig.recorded("maintenance_done")
    assert (row.message, row.action_id, row.account) == ("maintain #1", action_id, "sub1")
    assert rig.recorded("maintenance_progress") == []  # progress is shown, not recorded


async def test_a_rejected_open_stops_the_action_and_a_retry_resumes_from_it(store):
    rig = make_rig(store)
    _, action_id = await started(rig)
    venue = rig.ctx.venue("sub1")
    place = venue.place_order

    async def reject_the_open(request):  # once step 1 was sent, the venue refuses the next
        order = await place(request)
        rig.exchange.faults.reject_orders("51008", account="sub1", times=1)
        venue.place_order = place
        return order

    venue.place_order = reject_the_open

    report = await rig.ops.maintenance.run(action_id)

    assert rig.orders() == [closing("sub1", "60")]  # the open never reached the venue
    assert (report.result.failed_step, report.left, report.count) == (2, D(0), 0)
    assert "51008" in report.result.error
    [failed] = rig.of(MaintenanceFinished)
    assert failed.name == "maintenance_failed"
    assert store.action_with_steps(action_id).state.value == "partial"
    assert await rig.ops.maintenance.count(KEY) == 0

    again = await rig.ops.maintenance.run(action_id)  # [Retry]

    assert rig.orders() == [closing("sub1", "60"), opening("sub1", "600"),
                            closing("sub1", "552")]  # step 1 is not sent again
    assert (again.result.done, again.left, again.count) == (True, D(48), 1)
    assert [e.name for e in rig.of(MaintenanceFinished)] == [
        "maintenance_failed", "maintenance_done"]
    assert store.action_with_steps(action_id).state.value == "done"


async def test_a_rejected_first_close_ends_failed_with_nothing_changed(store):
    rig = make_rig(store)
    _, action_id = await started(rig)
    rig.exchange.faults.reject_orders("51112", account="sub1", times=1)

    report = await rig.ops.maintenance.run(action_id)

    assert rig.orders() == []
    assert (report.result.failed_step, report.left) == (1, D(60))
    assert store.action_with_steps(action_id).state.value == "failed"
    assert rig.recorded("maintenance_failed")[0].message.startswith("step 1: ")


async def test_retry_reports_in_the_message_the_button_was_pressed_in(store):
    rig = make_rig(store)
    _, action_id = await started(rig, chat_id=77, message_id=5)

    await rig.ops.maintenance.retry(action_id, chat_id=78, message_id=9)

    [finished] = rig.of(MaintenanceFinished)
    assert (finished.chat_id, finished.message_id) == (78, 9)
    action = store.action_with_steps(action_id)
    assert (action.chat_id, action.message_id, action.state.value) == (78, 9, "done")


async def test_a_busy_position_is_not_maintained(store):
    rig = make_rig(store)
    _, action_id = await started(rig)

    with rig.ctx.busy.hold(KEY):
        assert await rig.ops.maintenance.run(action_id) is None

    assert rig.orders() == []
    [busy] = rig.of(MaintenanceBusy, delivered=True)
    assert busy.action == action_id
    action = store.action_with_steps(action_id)
    assert (action.state.value, action.error) == ("failed", "position busy")


async def test_a_second_retry_while_it_runs_leaves_the_running_action_alone(store):
    """Two alert chats, two [Retry] tokens: the second press finds the position held by
    the first run; the action stays running, so a crash now still resumes it at start."""
    rig = make_rig(store)
    _, action_id = await started(rig)
    store.update_action(action_id, state="running")

    with rig.ctx.busy.hold(KEY):  # the first [Retry]'s run
        assert await rig.ops.maintenance.retry(action_id, chat_id=78, message_id=9) is None

    assert rig.orders() == []
    assert store.action_with_steps(action_id).state.value == "running"
    assert [a.id for a in store.unfinished_actions()] == [action_id]


async def test_an_unknown_action_runs_nothing(store):
    rig = make_rig(store)

    assert await rig.ops.maintenance.run(404) is None
    assert rig.published == [] and rig.orders() == []


async def test_running_a_finished_maintenance_again_does_not_count_it_twice(store):
    rig = make_rig(store)
    _, action_id = await started(rig)
    await rig.ops.maintenance.run(action_id)
    store.put_rule_state(*KEY, "take_profit", {"fired": 1, "entry": "5.001"})

    with pytest.raises(Refusal) as refused:
        await rig.ops.maintenance.retry(action_id, chat_id=77, message_id=9)

    assert refused.value.key == "maintenance_finished"
    assert len(rig.orders()) == 3  # nothing sent again
    assert await rig.ops.maintenance.count(KEY) == 1
    assert store.get_rule_state(*KEY, "take_profit") != {}
    assert [e.name for e in rig.of(MaintenanceFinished)] == ["maintenance_done"]


async def test_a_retry_refused_again_reports_each_venue_error_once(store):
    rig = make_rig(store)
    _, action_id = await started(rig)
    rig.exchange.faults.reject_orders("51112", account="sub1", times=1)
    await rig.ops.maintenance.run(action_id)
    rig.exchange.faults.reject_orders("51112", account="sub1", times=1)

    again = await rig.ops.maintenance.run(action_id)  # [Retry], refused again

    refused = "paper 51112 Close order size exceeds your available size"
    assert again.result.steps[1].errors == [refused, refused]


async def test_an_open_still_live_when_its_step_stops_waiting_is_followed_to_its_fill(store):
    """Issue 11, case 1, for a maintenance: the open rests unfilled and the venue takes no
    cancel, beyond the retries. The step is not judged on an order still live: it is
    followed until the venue says what it became — here it fills after all — and the
    maintenance goes on from what it filled: nothing left live, nothing sent twice."""
    rig = make_rig(store, make_config(rules={"close": {"follow_timeout_seconds": 1}}))
    _, action_id = await started(rig)
    venue, cancels = rig.venues["sub1"], []
    cancel, place = venue.cancel_order, venue.place_order

    async def stuck_after_the_close(request):
        if request.opens:
            rig.exchange.faults.never_fill(account="sub1")
        return await place(request)

    async def cancel_times_out(*args, **kwargs):
        cancels.append(1)
        if len(cancels) == LOOKUPS_THROUGH_OUTAGE + 2:  # meanwhile, it fills after all
            rig.exchange.faults.never_fill(account="sub1", enabled=False)
            for order in rig.exchange.orders.values():
                order.stuck = False
            rig.exchange.set_mark(APT, D("5"))
        if len(cancels) <= LOOKUPS_THROUGH_OUTAGE + 2:
            raise RequestTimeout("cancel timed out", code="timeout", venue="paper")
        return await cancel(*args, **kwargs)

    venue.place_order, venue.cancel_order = stuck_after_the_close, cancel_times_out

    report = await rig.ops.maintenance.run(action_id)

    assert len(cancels) > LOOKUPS_THROUGH_OUTAGE  # the retries ran out; following did not
    assert rig.orders() == [closing("sub1", "60"), opening("sub1", "600"),
                            closing("sub1", "552")]
    assert (report.result.done, report.left, report.count) == (True, D(48), 1)
    assert store.unfinished_steps() == []
    assert all(o.state.is_final for o in rig.exchange.orders.values())


async def test_a_plan_whose_last_step_would_close_nothing_is_refused(store):
    """Keeping 0.9 USDT of a 1 USDT open (2 ct at 5 USDT, 10x) rounds up to all 2 ct at
    APT's lot size: the maintenance would keep all it opens, not what was asked."""
    rig = make_rig(store)
    position = await anchor(rig)

    with pytest.raises(Refusal) as refused:
        await rig.ops.maintenance.plan(Kind.SUPER, position, D(1), D("0.9"))

    assert (refused.value.key, refused.value.values) == (
        "nothing_to_close", {"opened": D(2), "lot": D(1)})
    assert rig.orders() == [] and store.recent_actions() == []


async def test_the_steps_go_on_while_a_progress_message_is_being_shown(store):
    """A slow chat holds up no step: the first progress is still being shown when the
    last step's order is sent, and the final report comes after it."""
    rig = make_rig(store)
    rig.exchange.faults.latency_seconds = 0.01
    _, action_id = await started(rig)
    venue = rig.ctx.venue("sub1")
    place, last_sent, shown = venue.place_order, asyncio.Event(), []

    async def sending(request):
        order = await place(request)
        if len(rig.orders()) == 3:
            last_sent.set()
        return order

    async def slow_chat(event):
        if isinstance(event, MaintenanceProgress) and not shown:
            await asyncio.wait_for(last_sent.wait(), 5)  # awaited by the steps: never set
        shown.append(type(event).__name__)

    venue.place_order = sending
    rig.ctx.events.subscribe(slow_chat)
    report = await asyncio.wait_for(rig.ops.maintenance.run(action_id), 10)

    assert report is not None and report.result.done
    assert shown[0] == "MaintenanceProgress" and shown[-1] == "MaintenanceFinished"
