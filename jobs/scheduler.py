"""The scheduled loops, on PTB's JobQueue (APScheduler), with the status `/status` shows.

Each job runs at a fixed interval, never overlaps itself (a run still going when the
next is due is skipped, not queued), skips its runs while the global pause is on
(unless it is the paper exchange's own clock, which is the market, not an action of
ours), and keeps last run, next run and last error. A scheduled run that is skipped (the
last one still going, or the loop too busy to start it in time) or that starts over half
an interval after the one before it should have is counted and reported (`on_behind`),
and so is the first run back on time (`on_time`): falling behind is a problem the trader
hears of, not a log line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from telegram.ext import ContextTypes, JobQueue

from bot.fence import LeaseLost
from bot.ops.context import PauseSwitch
from bot.ops.status import JobStatus, same_problem

log = logging.getLogger(__name__)

JobFunc = Callable[[], Awaitable[None]]
FIRST_RUN_DELAY = 0.2  # seconds after start for jobs that should run at once
# The accounts of one loop (take_profit:main, take_profit:sub1, ...) start spread evenly
# over SPREAD_SECONDS, or STAGGER_SECONDS apart when that takes longer, never over more
# than the interval: 200 accounts at a 1 s interval read 5 ms apart instead of all at
# the same instant, every interval after; 200 position logs (every 30 s) take 10 s to
# make their first records instead of all in the first second.
SPREAD_SECONDS = 1.0
STAGGER_SECONDS = 0.05
LATE_FACTOR = 1.5  # a run this many intervals after the previous one is late
MAX_PROBLEMS_KEPT = 50  # per job: failures whose text varies must not grow memory forever


class Jobs:
    def __init__(self, job_queue: JobQueue, pause: PauseSwitch) -> None:  # type: ignore[type-arg]
        self._queue = job_queue
        self._pause = pause
        # How each run ended, for the alerts (one per failure, one when it clears).
        self.on_error: Callable[[str, BaseException], Awaitable[None]] | None = None
        self.on_success: Callable[[str], Awaitable[None]] | None = None
        self.on_behind: Callable[[str, str], Awaitable[None]] | None = None
        self.on_time: Callable[[str], Awaitable[None]] | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # reports of runs APScheduler skipped
        self._jobs: dict[str, tuple[JobFunc, JobStatus]] = {}
        self._first: dict[str, float | None] = {}
        self._failures: dict[str, dict[str, int]] = {}  # job -> problem -> repeats logged
        self._woken: set[str] = set()  # jobs with a woken run waiting or going
        self._again: set[str] = set()  # jobs woken again since their woken run began
        self._idle: dict[str, asyncio.Event] = {}  # set while the job is not running
        self._stopping = False
        self._started = False

    def add(self, name: str, interval_seconds: float, func: JobFunc, *,
            pausable: bool = True, first: float | None = None) -> None:
        """Register a job; it is scheduled by `start`, once the scheduler runs (added
        after that: by `schedule`)."""
        if name in self._jobs:
            raise ValueError(f"job {name!r} is scheduled already")
        self._jobs[name] = (func, JobStatus(name, interval_seconds, pausable))
        self._first[name] = first

    def names(self) -> list[str]:
        return list(self._jobs)

    def start(self) -> None:
        self._queue.scheduler.add_listener(self._not_run,
                                           EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        self._started = True
        self.schedule(list(self._jobs))

    def schedule(self, names: list[str]) -> None:
        """Put jobs added (after `start`) on the schedule, their first runs spread."""
        offsets = self._offsets(names)
        for name in names:
            status, first = self._jobs[name][1], self._first[name]
            self._queue.run_repeating(
                # APScheduler skips a first run whose time has already passed when the job
                # is added, so "at once" is a moment from now, not now.
                self._tick, interval=status.interval_seconds,
                first=first if first is not None else FIRST_RUN_DELAY + offsets[name],
                name=name, data=name,
                job_kwargs={"max_instances": 1, "coalesce": True,
                            "misfire_grace_time": max(1, int(status.interval_seconds))},
            )

    def remove(self, names: list[str]) -> None:
        """Take jobs off the schedule (another process acts for their account now); a run
        going is not stopped here: what it would send or write is fenced."""
        gone = {name for name in names if self._jobs.pop(name, None) is not None}
        for name in gone:
            self._first.pop(name, None)
            self._again.discard(name)
        for job in self._queue.jobs():
            if job.name in gone:
                job.schedule_removal()

    def _offsets(self, names: list[str]) -> dict[str, float]:
        """Where each job's first run falls among its loop's (the jobs named alike up to
        the colon): the k-th of n starts k/n of the loop's spread later."""
        loops: dict[str, list[str]] = {}
        for name in names:
            loops.setdefault(name.partition(":")[0], []).append(name)
        offsets = {}
        for same in loops.values():
            interval = self._jobs[same[0]][1].interval_seconds
            spread = min(interval, max(SPREAD_SECONDS, STAGGER_SECONDS * len(same)))
            offsets |= {name: spread * k / len(same) for k, name in enumerate(same)}
        return offsets

    async def run_now(self, name: str) -> None:
        """Run one job once, through the same guards (tests, and a future /run command)."""
        await self._run(name)

    def wake(self, name: str) -> None:
        """Run a job as soon as it is not running, besides its schedule: a stream saw a
        price or a position change. Wakes while a run is waiting or going add one more
        run after it, never more (a burst of price ticks is one look at the newest)."""
        if name not in self._jobs or self._stopping:
            return
        self._again.add(name)
        if name in self._woken:
            return
        self._woken.add(name)
        task = asyncio.get_running_loop().create_task(self._woken_runs(name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop_waking(self) -> None:
        """The bot is stopping: no woken run starts any more; one going is let finish, as
        a scheduled run is (an order it sent is followed to its end, not abandoned)."""
        self._stopping = True
        self._again.clear()
        await asyncio.gather(*[t for t in self._tasks if not t.done()],
                             return_exceptions=True)

    async def _woken_runs(self, name: str) -> None:
        idle = self._idle.setdefault(name, asyncio.Event())
        try:
            while name in self._again and name in self._jobs:
                if self._jobs[name][1].running:
                    idle.clear()
                    await idle.wait()  # a run in flight reads before the change: one after it
                    continue
                self._again.discard(name)
                await self._run(name)
        finally:
            self._woken.discard(name)

    def statuses(self) -> list[JobStatus]:
        # One pass over APScheduler's jobs: PTB's get_jobs_by_name scans them all for each
        # name, which at 200 accounts (600 jobs) took the event loop for seconds.
        scheduled = {job.name: job for job in self._queue.scheduler.get_jobs()}
        result = []
        for name, (_, status) in self._jobs.items():
            job = scheduled.get(name)
            # APScheduler gives a job its next run time only once the scheduler started
            status.next_run = getattr(job, "next_run_time", None)
            status.paused = status.pausable and self._pause.paused
            result.append(status)
        return result

    def status(self, name: str) -> JobStatus | None:
        """One job's counts, without asking the scheduler (what an alert needs)."""
        job = self._jobs.get(name)
        return job[1] if job is not None else None

    def _log_failure(self, name: str, exc: Exception) -> None:
        """The traceback once per problem per job (the `job_failed` event's own line says
        every run): a job failing every run (a bad key) must not bury the log in identical
        tracebacks."""
        problem = same_problem(exc)
        seen = self._failures.setdefault(name, {})
        if problem in seen:
            seen[problem] += 1
            return
        if len(seen) >= MAX_PROBLEMS_KEPT:
            del seen[next(iter(seen))]  # the oldest
        seen[problem] = 0
        log.exception("job_failed name=%s", name)

    async def _tick(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.job is not None
        name = str(context.job.data)
        if name not in self._jobs:  # removed while this tick was due
            return
        status = self._jobs[name][1]
        now, last = time.monotonic(), status.last_start
        status.last_start = now
        if status.running:
            if name not in self._woken:  # a run_now still going: lost like any other tick
                await self._behind(name, "skipped")
            return  # (a woken run going: the rule is looking already)
        if last is not None and now - last > status.interval_seconds * LATE_FACTOR:
            await self._behind(name, "late")
        elif last is not None and self.on_time is not None and status.pausable:
            await self.on_time(name)
        await self._run(name)

    def _not_run(self, event: JobEvent) -> None:
        """APScheduler did not start a run: the last one was still going (max instances)
        or its time passed beyond the grace while the loop was busy (missed)."""
        job = self._queue.scheduler.get_job(event.job_id)
        if job is None or job.name not in self._jobs:
            return
        task = asyncio.get_running_loop().create_task(self._behind(job.name, "skipped"))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _behind(self, name: str, why: str) -> None:
        status = self._jobs[name][1]
        if why == "skipped":
            status.skipped += 1
        else:
            status.late += 1
        log.warning("job_behind name=%s why=%s skipped=%d late=%d", name, why,
                    status.skipped, status.late)
        # Told for the rule loops (the actions of ours); the paper market's clock is the
        # simulated market, counted and shown only.
        if self.on_behind is not None and status.pausable:
            await self.on_behind(name, why)

    async def _run(self, name: str) -> None:
        if name not in self._jobs:
            return
        func, status = self._jobs[name]
        if status.running or (status.pausable and self._pause.paused):
            return
        status.running = True
        started = time.monotonic()
        try:
            await func()
            status.last_error = None
            if self.on_success is not None:
                await self.on_success(name)
        except LeaseLost as lost:  # another process acts for the account now: no failure
            log.info("job_lease_lost name=%s account=%s", name, lost.account)
        except Exception as exc:  # a failing run must not kill the schedule
            status.last_error = f"{type(exc).__name__}: {exc}"
            self._log_failure(name, exc)
            if self.on_error is not None:
                await self.on_error(name, exc)
        finally:
            status.running = False
            if name in self._idle:
                self._idle[name].set()
            status.runs += 1
            status.last_run = datetime.now(UTC)
            status.last_duration = time.monotonic() - started
