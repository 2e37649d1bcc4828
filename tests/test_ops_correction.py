"""`Correction` on the paper venue (SPEC §6, issue 12): one run brings a drifted
sub-account position to its targets — the leverage set, the excess closed, margin moved
out in steps of at most 5 USDT, each read back — and the next run sends nothing; busy
positions are left alone; a refusal stops the position's correction with the venue's
code, alerted once (across a restart) and resolved once; observe mode tells once; a stop
between two margin moves is resumed from the journal without repeating one."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from bot.config import RuleMode
from bot.domain import Side
from bot.ops.events import (
    CorrectionFailed,
    CorrectionObserved,
    PositionCorrected,
    ProblemResolved,
    RuleSkipped,
)
from bot.venues.base import MarginChangeRejected
from tests.opskit import APT, D, closing, make_config, make_rig

KEY = ("sub1", APT, "long")


def drifted(rig, size, margin, *, entry="5", leverage="10"):
    """sub1's APT long, with the margin a maintenance left (seed 002)."""
    rig.exchange.seed_position("sub1", APT, Side.LONG, D(size), D(entry), D(leverage),
                               margin=D(margin))


def record_calls(rig, account="sub1"):
    """Every call the op makes to the venue, in order (reads included)."""
    venue, calls = rig.venues[account], []
    for name in ("positions", "set_leverage", "place_order", "change_margin"):
        method = getattr(venue, name)

        async def recorded(*args, _name=name, _method=method, **kwargs):
            calls.append((_name, *[a for a in args if not hasattr(a, "client_id")]))
            return await _method(*args, **kwargs)

        setattr(venue, name, recorded)
    return calls


def writes(calls):
    return [c for c in calls if c[0] != "positions"]


async def test_one_run_brings_a_drifted_position_to_target_and_the_next_sends_nothing(store):
    rig = make_rig(store)
    drifted(rig, "60", "18", entry="6", leverage="20")  # 360 USDT at entry, 300 at the mark
    calls = record_calls(rig)

    [outcome] = await rig.ops.correction.run("sub1")

    assert writes(calls) == [("set_leverage", APT, Side.LONG, D(10)), ("place_order",),
                             ("change_margin", APT, Side.LONG, D(-2))]
    # read back after the leverage and after the close; the margin move reads back itself
    kinds = [c[0] for c in calls]
    assert kinds == ["positions", "positions", "set_leverage", "positions", "place_order",
                     "positions", "change_margin", "positions"]
    assert rig.orders() == [closing("sub1", "40")]
    held = rig.position("sub1")
    assert (held.size, held.leverage, held.margin) == (D(20), D(10), D(10))
    report = outcome.report
    assert (report.leverage_after, report.close.filled_size, len(report.moves)) == (
        D(10), D(40), 1)
    [told] = rig.of(PositionCorrected, delivered=True)
    assert told.message() == ("leverage 20 -> 10; notional 300.00 -> 100.00 (closed 40 of "
                              f"40, fee {report.close.fee}); margin 12 -> 10 in 1 steps")
    [action] = store.recent_actions()
    assert (action.kind, action.state.value) == ("correction", "done")
    assert [(s.seq, s.kind, s.state.value) for s in store.action_with_steps(action.id).steps] \
        == [(1, "leverage", "final"), (10, "close", "final"), (100, "margin_out", "final")]

    calls.clear()
    assert await rig.ops.correction.run("sub1") == []
    assert writes(calls) == [] and len(store.recent_actions()) == 1


async def test_seed_002_margin_106_79_comes_out_5_at_a_time_down_to_10(store):
    rig = make_rig(store)
    drifted(rig, "20", "106.79")  # 100 USDT at 10x: only the margin drifted
    calls = record_calls(rig)

    [outcome] = await rig.ops.correction.run("sub1")

    moves = [-c[3] for c in writes(calls)]
    assert moves == [D(5)] * 19 + [D("1.79")]
    assert rig.position("sub1").margin == D(10)
    assert [(m.margin_before, m.margin_after) for m in outcome.report.moves][:2] == [
        (D("106.79"), D("101.79")), (D("101.79"), D("96.79"))]
    assert rig.orders() == []


async def test_maintenance_count_2_corrects_to_200_and_20(store):
    rig = make_rig(store)
    drifted(rig, "40", "31")  # 200 USDT: right for the third maintenance, not the first
    store.put_rule_state(*KEY, "maintenance", {"count": 2})

    await rig.ops.correction.run("sub1")

    held = rig.position("sub1")
    assert (held.size, held.margin, rig.orders()) == (D(40), D(20), [])


async def test_a_busy_position_is_left_alone(store):
    rig = make_rig(store)
    drifted(rig, "20", "50")
    calls = record_calls(rig)

    with rig.ctx.busy.hold(KEY):  # a maintenance is working on it
        assert [o.report for o in await rig.ops.correction.run("sub1")] == [None]

    assert writes(calls) == [] and store.recent_actions() == []
    [skipped] = rig.of(RuleSkipped)
    assert skipped.name == "correction_skipped_busy"


async def test_a_refused_margin_move_stops_alerts_once_across_a_restart_and_resolves(store):
    rig = make_rig(store)
    drifted(rig, "20", "30")
    venue = rig.venues["sub1"]
    change = venue.change_margin

    async def refused(*args, **kwargs):
        raise MarginChangeRejected("Exceeds the maximum adjustable margin", code="59301",
                                   venue="paper")

    venue.change_margin = refused
    for _ in range(3):
        await rig.ops.correction.run("sub1")
    again = rig.restart()
    again.venues["sub1"].change_margin = refused
    for _ in range(3):
        await again.ops.correction.run("sub1")

    told = rig.of(CorrectionFailed, delivered=True) + again.of(CorrectionFailed,
                                                                delivered=True)
    assert len(told) == 1 and "59301" in told[0].error
    assert len(rig.recorded("correction_failed")) == 6  # every run recorded
    steps = store.action_with_steps(store.recent_actions()[0].id).steps
    assert [(s.kind, s.state.value, s.error_code) for s in steps] == [
        ("margin_out", "failed", "59301")]
    assert rig.position("sub1").margin == D(30)

    again.venues["sub1"].change_margin = change  # the venue takes it now
    await again.ops.correction.run("sub1")
    await again.ops.correction.run("sub1")

    assert rig.position("sub1").margin == D(10)
    [resolved] = again.of(ProblemResolved, delivered=True)
    assert (resolved.kind, resolved.problem, resolved.where) == ("correction", "59301", KEY)


async def test_observe_mode_tells_what_it_would_do_once(store):
    rig = make_rig(store, make_config(sub1={"correction": "observe"}))
    drifted(rig, "20", "30")
    calls = record_calls(rig)

    for _ in range(3):
        await rig.ops.correction.run("sub1")

    assert writes(calls) == [] and store.recent_actions() == []
    [observed] = rig.of(CorrectionObserved, delivered=True)
    assert observed.message() == "would: margin 30 -> 10 in 4 steps"
    assert rig.ctx.config.account("sub1").rule_mode("correction") is RuleMode.OBSERVE

    rig.exchange.change_margin("sub1", APT, Side.LONG, D(-20))  # corrected by hand
    await rig.ops.correction.run("sub1")
    rig.exchange.change_margin("sub1", APT, Side.LONG, D(20))  # and drifted again
    await rig.ops.correction.run("sub1")

    assert len(rig.of(CorrectionObserved, delivered=True)) == 2  # a decision again


async def test_run_now_corrects_an_observing_account(store):
    rig = make_rig(store, make_config(sub1={"correction": "observe"}))
    drifted(rig, "20", "30")

    [outcome] = await rig.ops.correction.run("sub1", now=True, requested_by=7)

    assert outcome.report.error is None and rig.position("sub1").margin == D(10)
    [action] = store.recent_actions()
    assert (action.origin, action.requested_by) == ("command", 7)


async def stopped_at_the_third_move(rig, *, applied):
    """The bot stops during the third margin move: before the venue took it, or after
    (`applied`) without hearing back."""
    venue = rig.venues["sub1"]
    change, calls = venue.change_margin, []

    async def stops(*args, **kwargs):
        calls.append(args)
        if len(calls) == 3:
            if applied:
                await change(*args, **kwargs)
            raise asyncio.CancelledError
        return await change(*args, **kwargs)

    venue.change_margin = stops
    with contextlib.suppress(asyncio.CancelledError):
        await rig.ops.correction.run("sub1")
    return calls


@pytest.mark.parametrize("applied", [False, True], ids=["before_the_venue", "unheard"])
async def test_a_stop_between_two_margin_moves_is_resumed_without_repeating_one(store,
                                                                              applied):
    rig = make_rig(store)
    drifted(rig, "20", "40")  # 30 USDT to move out: six moves of 5
    first = await stopped_at_the_third_move(rig, applied=applied)
    assert rig.position("sub1").margin == (D(25) if applied else D(30))
    again = rig.restart()
    calls = record_calls(again)
    stock = again.ops.recovery.take_stock()

    await asyncio.wait_for(again.ops.recovery.run(stock), 5)

    # the third move was sent once: applied, it is not sent again; not applied, it is
    # decided "failed" from the margin read back, and the moves go on from there
    assert len(first) + len(writes(calls)) == (6 if applied else 7)
    assert rig.position("sub1").margin == D(10)
    [action] = store.recent_actions()
    steps = store.action_with_steps(action.id).steps
    assert [(s.seq, s.state.value) for s in steps] == [
        (100, "final"), (101, "final"), (102, "final" if applied else "failed"),
        *[(103 + n, "final") for n in range(3 if applied else 4)]]
    assert action.state.value == "done" and store.unfinished_steps() == []
    [told] = again.of(PositionCorrected, delivered=True)
    assert told.report.moves[-1].margin_after == D(10)
