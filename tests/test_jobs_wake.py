"""A stream's change wakes a rule loop at once (issue 16): a burst of changes is one more
look at the newest, never a queue of runs, never two runs of one loop at the same time,
and the schedule's own run is not counted as skipped for it."""

from __future__ import annotations

import asyncio

import pytest

from bot.ops.context import PauseSwitch
from jobs.scheduler import STAGGER_SECONDS, Jobs


def jobs_with(body) -> Jobs:  # noqa: ANN001 - the job's coroutine function
    jobs = Jobs(None, PauseSwitch(False, lambda *_: None))  # type: ignore[arg-type]
    jobs.add("take_profit:main", 3600, body)
    return jobs


async def test_a_burst_of_wakes_is_one_run_then_one_more_never_two_at_once():
    going, runs = [], []

    async def look() -> None:
        going.append(1)
        assert len(going) == 1  # never two at once
        await asyncio.sleep(0.05)
        runs.append(1)
        going.pop()

    jobs = jobs_with(look)
    for _ in range(20):  # twenty price ticks while the first look is going
        jobs.wake("take_profit:main")
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.3)
    assert len(runs) == 2  # the first, and one more for the ticks that came during it
    jobs.wake("take_profit:main")
    await asyncio.sleep(0.1)
    assert len(runs) == 3
    status = jobs._jobs["take_profit:main"][1]
    assert (status.runs, status.skipped) == (3, 0)


async def test_a_wake_during_a_scheduled_run_looks_again_after_it():
    runs: list[float] = []
    release = asyncio.Event()

    async def look() -> None:
        runs.append(1)
        if len(runs) == 1:
            await release.wait()

    jobs = jobs_with(look)
    scheduled = asyncio.create_task(jobs.run_now("take_profit:main"))
    await asyncio.sleep(0.01)
    jobs.wake("take_profit:main")  # the running look read before this change
    await asyncio.sleep(0.05)
    assert len(runs) == 1
    release.set()
    await scheduled
    await asyncio.sleep(0.05)
    assert len(runs) == 2


async def test_a_wake_of_a_loop_that_is_not_scheduled_does_nothing_and_pause_holds():
    runs: list[int] = []

    async def look() -> None:
        runs.append(1)

    jobs = jobs_with(look)
    jobs.wake("take_profit:nobody")
    jobs._pause._paused = True
    jobs.wake("take_profit:main")
    await asyncio.sleep(0.05)
    assert runs == []


def test_the_accounts_of_one_loop_start_spread_out():
    jobs = Jobs(None, PauseSwitch(False, lambda *_: None))  # type: ignore[arg-type]

    async def nothing() -> None: ...

    for n in range(4):
        jobs.add(f"take_profit:acct{n}", 1, nothing)
    for n in range(200):
        jobs.add(f"position_log:acct{n}", 30, nothing)
    offsets = jobs._offsets(jobs.names())
    # over the first second; 200 position logs STAGGER_SECONDS apart (within 30 s)
    assert [offsets[f"take_profit:acct{n}"] for n in range(4)] == [0, 0.25, 0.5, 0.75]
    assert offsets["position_log:acct199"] == pytest.approx(STAGGER_SECONDS * 199)


async def test_no_woken_run_starts_once_the_bot_stops():
    runs: list[int] = []

    async def look() -> None:
        runs.append(1)
        await asyncio.sleep(0.2)

    jobs = jobs_with(look)
    jobs.wake("take_profit:main")
    await asyncio.sleep(0.01)
    jobs.wake("take_profit:main")  # would look once more after the first
    await jobs.stop_waking()  # the going look finishes, the next never starts
    jobs.wake("take_profit:main")
    await asyncio.sleep(0.3)
    assert runs == [1]
