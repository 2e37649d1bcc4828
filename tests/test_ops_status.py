"""`Status` and `Control`: the snapshot `/status` shows (venues, jobs, pause), a failing job
told once per problem and once when it clears, the start and stop notices with what
runs; the global pause (kept in the database, so a restart keeps it), the language, and
what the gate turned away."""

from __future__ import annotations

import asyncio

from bot.domain import Balance
from bot.ops.events import (
    BotStarted,
    BotStopped,
    HandlerFailed,
    JobBehind,
    JobFailed,
    Paused,
    ProblemResolved,
    Resumed,
    StaleUpdateDropped,
    Unauthorized,
)
from bot.ops.status import BEHIND, CLEAN_RUNS_TO_RESOLVE, AccountSummary, JobStatus
from bot.venues.base import VenueUnavailable
from tests.opskit import Board, D, make_config, make_rig

JOB = "take_profit:main"


async def test_snapshot_lists_every_venue_and_the_jobs(store):
    board = Board([JobStatus(JOB, 10, True, runs=3), JobStatus("position_log:main", 30, True)])
    rig = make_rig(store, board=board, cash={"main": D(1000), "sub1": D(200)})

    snapshot = await rig.ops.status.snapshot()

    assert snapshot.paused is False
    assert [(v.account, v.venue, v.balance, v.error) for v in snapshot.accounts] == [
        ("main", "paper", Balance("USDT", D(1000), D(1000)), None),
        ("sub1", "paper", Balance("USDT", D(200), D(200)), None)]
    assert [(j.name, j.runs) for j in snapshot.jobs] == [(JOB, 3), ("position_log:main", 0)]


async def test_snapshot_names_a_venue_that_is_down_or_silent(store, monkeypatch):
    rig = make_rig(store)
    monkeypatch.setattr("bot.ops.status.VENUE_READ_TIMEOUT", 0.01)

    async def down():
        raise VenueUnavailable("Service temporarily unavailable", code="50001", venue="paper")

    async def silent():
        await asyncio.sleep(5)  # cancelled by the snapshot's timeout

    rig.venues["main"].balance = down  # type: ignore[method-assign]
    rig.venues["sub1"].balance = silent  # type: ignore[method-assign]

    main, sub1 = (await rig.ops.status.snapshot()).accounts

    assert (main.balance, main.error, main.timed_out) == (
        None, "paper 50001 Service temporarily unavailable", False)
    assert (sub1.balance, sub1.timed_out) == (None, True)


async def test_a_failing_job_is_told_once_per_problem(store):
    rig = make_rig(store)

    for _ in range(3):
        await rig.ops.status.job_failed(JOB, RuntimeError("venue said no"))
    await rig.ops.status.job_failed(JOB, ValueError("another reason"))

    failed = rig.of(JobFailed)
    assert [(e.problem, e.repeat) for e in failed] == [
        ("RuntimeError: venue said no", False), ("RuntimeError: venue said no", True),
        ("RuntimeError: venue said no", True), ("ValueError: another reason", False)]
    assert rig.of(JobFailed, delivered=True) == [failed[0], failed[3]]
    rows = rig.recorded("job_failed")
    assert len(rows) == 4 and rows[0].data == {"job": JOB}
    assert rows[0].message == f"{JOB}: RuntimeError: venue said no"


async def test_a_job_that_runs_again_is_told_resolved_once(store):
    rig = make_rig(store)
    first_failed_at = rig.clock()
    for _ in range(3):
        await rig.ops.status.job_failed(JOB, RuntimeError("boom"))
        rig.clock.advance(10)

    for _ in range(CLEAN_RUNS_TO_RESOLVE + 2):  # resolved once, after enough clean runs
        await rig.ops.status.job_ran(JOB)
    await rig.ops.status.job_ran("watcher:sub1")  # never failed: nothing to tell

    [resolved] = rig.of(ProblemResolved, delivered=True)
    assert (resolved.kind, resolved.job, resolved.problem, resolved.count, resolved.since) == (
        "system", JOB, "RuntimeError: boom", 3, first_failed_at)
    assert resolved.alert == "system"
    assert [r.message for r in rig.recorded("problem_resolved")] == [
        f"job {JOB}: resolved after 3 runs (RuntimeError: boom)"]


async def test_accounts_of_a_loop_falling_behind_together_are_one_alert(store):
    """200 accounts behind at once are one problem (issue 16): told once for the loop, and
    resolved once every account's run kept time again."""
    jobs = [f"take_profit:acct{n}" for n in range(3)]
    rig = make_rig(store, board=Board([JobStatus(j, 1, True, skipped=1) for j in jobs]))
    for job in jobs:
        await rig.ops.status.job_behind(job, "skipped")
    await rig.ops.status.job_behind("watcher:acct0", "late")  # another loop: its own alert
    assert [(e.job, e.why) for e in rig.of(JobBehind, delivered=True)] == [
        ("take_profit:acct0", "skipped"), ("watcher:acct0", "late")]
    for _ in range(CLEAN_RUNS_TO_RESOLVE):  # one account on time is not the loop on time
        await rig.ops.status.job_on_time(jobs[0])
    assert rig.of(ProblemResolved) == []
    for _ in range(CLEAN_RUNS_TO_RESOLVE):
        for job in jobs[1:]:
            await rig.ops.status.job_on_time(job)
    [resolved] = rig.of(ProblemResolved, delivered=True)
    assert (resolved.problem, resolved.count) == (BEHIND, 3)  # the accounts behind, told once


async def test_a_failing_job_is_not_told_again_after_a_restart(store):
    rig = make_rig(store)
    await rig.ops.status.job_failed(JOB, RuntimeError("boom"))

    restarted = rig.restart()
    await restarted.ops.status.job_failed(JOB, RuntimeError("boom"))
    for _ in range(CLEAN_RUNS_TO_RESOLVE):
        await restarted.ops.status.job_ran(JOB)

    assert [e.repeat for e in restarted.of(JobFailed)] == [True]
    [resolved] = restarted.of(ProblemResolved, delivered=True)
    assert resolved.count == 2


async def test_a_job_failing_every_other_run_is_told_once(store):
    """Failed, ran, failed, ran…: not a "failed" and a "resolved" every cycle."""
    rig = make_rig(store)
    for _ in range(5):
        await rig.ops.status.job_failed(JOB, RuntimeError("boom"))
        await rig.ops.status.job_ran(JOB)

    assert len(rig.of(JobFailed, delivered=True)) == 1
    assert rig.of(ProblemResolved, delivered=True) == []


async def test_a_venue_error_is_the_same_problem_by_its_code(store):
    rig = make_rig(store)
    for n in range(3):  # the venue's text varies (a request id, a time); its code does not
        await rig.ops.status.job_failed(JOB, VenueUnavailable(f"gateway timeout #{n}",
                                                              code="50001", venue="paper"))

    assert [e.repeat for e in rig.of(JobFailed)] == [False, True, True]


async def test_started_and_stopped_publish_what_runs(store):
    config = make_config(main={"take_profit": "on", "hedge": "observe"},
                         sub1={"watcher": "auto"},
                         accounts={"sub1": {"take_profit": {"long": [
                             {"profit_pct": 10, "close_pct": 20}]}}})
    rig = make_rig(store, config)

    await rig.ops.status.started()
    await rig.ops.status.stopped()

    started, stopped = rig.delivered
    assert (type(started), type(stopped)) == (BotStarted, BotStopped)
    summary = started.summary
    assert summary.accounts == [
        AccountSummary("main", "paper", "main",
                       {"take_profit": "on", "hedge": "observe", "correction": "off",
                        "watcher": "ask"}),
        AccountSummary("sub1", "paper", "sub",
                       {"take_profit": "off", "hedge": "off", "correction": "on",
                        "watcher": "auto"})]
    assert (summary.demo, summary.paused, summary.overrides) == (True, False, ["sub1"])
    assert summary.ladders["long"] == [(D(25), D(30)), (D(35), D(50)), (D(50), D(50))]
    assert summary.intervals == {"take_profit": 10, "watcher": 10, "correction": 300}
    assert [r.message for r in rig.recorded("bot_started")] == [
        "demo=True paused=False accounts=main(paper,main: take_profit=on hedge=observe "
        "correction=off watcher=ask), sub1(paper,sub: take_profit=off hedge=off "
        "correction=on watcher=auto)"]
    assert [r.message for r in rig.recorded("bot_stopped")] == ["stopped cleanly"]


async def test_pause_and_resume_say_whether_anything_changed(store):
    rig = make_rig(store)

    assert await rig.ops.control.pause(1001) is True
    assert await rig.ops.control.pause(1001) is False  # already paused: no second event
    assert (rig.ops.control.paused, store.is_paused()) == (True, True)
    assert await rig.ops.control.resume(1002) is True
    assert await rig.ops.control.resume(1002) is False

    assert [(type(e), e.by_user) for e in rig.delivered] == [(Paused, 1001), (Resumed, 1002)]
    assert [r.message for r in rig.recorded("paused")] == ["paused by user 1001"]
    assert [r.message for r in rig.recorded("resumed")] == ["resumed by user 1002"]
    assert (rig.ops.control.paused, store.is_paused()) == (False, False)


async def test_the_pause_survives_a_restart(store):
    rig = make_rig(store)
    await rig.ops.control.pause(1001)

    restarted = rig.restart()

    assert restarted.ctx.pause.paused and restarted.ops.control.paused
    assert (await restarted.ops.status.snapshot()).paused is True
    assert restarted.ops.status.summary().paused is True
    assert await restarted.ops.control.pause(1001) is False


async def test_the_language_defaults_to_the_config_and_is_kept(store):
    rig = make_rig(store)
    assert rig.ops.control.language() == "en"

    await rig.ops.control.set_language("zh")

    assert rig.restart().ops.control.language() == "zh"


async def test_what_the_gate_turned_away_is_recorded(store):
    rig = make_rig(store)

    await rig.ops.control.refused(666, "mallory", "/close BTC all")
    await rig.ops.control.dropped_stale("/pause", 300)
    await rig.ops.control.front_failed(KeyError("chat"))

    assert [type(e) for e in rig.delivered] == [Unauthorized, StaleUpdateDropped, HandlerFailed]
    [unauthorized] = rig.recorded("unauthorized")
    assert (unauthorized.message, unauthorized.data, unauthorized.severity.value) == (
        "refused user 666: /close BTC all",
        {"user_id": 666, "username": "mallory", "unanswered": 0}, "warning")
    assert rig.recorded("stale_update_dropped")[0].data == {"age_seconds": 300}
    assert rig.recorded("handler_failed")[0].message == "KeyError: 'chat'"
