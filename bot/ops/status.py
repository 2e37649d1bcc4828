"""How the bot stands: the snapshot `/status` (and a status page) shows, the jobs' health
with one alert per failure and one when it clears, and the start and stop notices."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from bot.domain import Balance
from bot.ops.context import VENUE_READ_TIMEOUT, Context
from bot.ops.events import BotStarted, BotStopped, JobBehind, JobFailed, ProblemResolved
from db.records import ClusterMember


@dataclass(slots=True)
class JobStatus:
    name: str
    interval_seconds: float
    pausable: bool
    last_run: datetime | None = None
    last_duration: float | None = None
    last_error: str | None = None
    running: bool = False
    runs: int = 0
    next_run: datetime | None = None
    paused: bool = False
    skipped: int = 0  # scheduled runs that did not happen: the last one was still going
    late: int = 0  # runs that started over half an interval after their time
    last_start: float | None = None  # monotonic, of the last scheduled run


class JobBoard(Protocol):
    """Whatever schedules the jobs (the `jobs/` front) reports them through this."""

    def statuses(self) -> list[JobStatus]: ...

    def status(self, name: str) -> JobStatus | None: ...


@dataclass(frozen=True, slots=True)
class VenueHealth:
    account: str
    venue: str
    balance: Balance | None  # None: not reachable
    error: str | None = None
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    paused: bool
    accounts: list[VenueHealth]  # each account's venue, reachable or not
    jobs: list[JobStatus]  # this process's
    members: list[ClusterMember] = field(default_factory=list)  # in a cluster: who holds what
    member: str | None = None  # this process's name in the cluster


@dataclass(frozen=True, slots=True)
class AccountSummary:
    name: str
    venue: str
    role: str
    modes: dict[str, str]  # rule -> on | observe | off; watcher -> off | ask | auto


@dataclass(frozen=True, slots=True)
class StartSummary:
    """What runs, as seed 004's start-up log said it: accounts, modes, ladders, intervals."""

    demo: bool
    accounts: list[AccountSummary]
    ladders: dict[str, list[tuple[Decimal, Decimal]]]  # side -> (profit %, close %)
    intervals: dict[str, int]  # job kind -> seconds
    paused: bool
    overrides: list[str] = field(default_factory=list)  # accounts with their own ladder

    def line(self) -> str:
        accounts = ", ".join(f"{a.name}({a.venue},{a.role}: " + " ".join(
            f"{k}={v}" for k, v in a.modes.items()) + ")" for a in self.accounts)
        return f"demo={self.demo} paused={self.paused} accounts={accounts}"


CLEAN_RUNS_TO_RESOLVE = 3
BEHIND = "behind its interval"  # the problem a job that keeps time again resolves
# The rules that have a job today; grid joins when it is built.
RUNNING_RULES = ("take_profit", "hedge", "correction")


def same_problem(exc: BaseException) -> str:
    """What makes two failures the same problem: a venue error by its venue and code (its
    text may carry request ids or times), anything else by its type and text."""
    code, venue = getattr(exc, "code", None), getattr(exc, "venue", None)
    if code:
        return " ".join(x for x in (f"{type(exc).__name__}:", venue, code) if x)
    return f"{type(exc).__name__}: {exc}"[:500]


def _job_key(name: str) -> str:
    return f"job|{name}"


def _loop_of(job: str) -> str:
    """take_profit:main -> take_profit: the rule loop a job runs for one account."""
    return job.partition(":")[0]


def _late_key(loop: str) -> str:
    return f"job_late|{loop}"


class Status:
    def __init__(self, ctx: Context, board: JobBoard) -> None:
        self.ctx = ctx
        self.board = board
        self._clean_runs: dict[str, int] = {}  # job -> clean runs since it last failed
        self._on_time: dict[str, int] = {}  # loop -> runs on time since one fell behind
        self._loop_sizes: dict[str, int] | None = None  # loop -> its jobs (one an account)
        self._behind: dict[str, int] = {}  # loop -> runs skipped or late while told
        self.member: str | None = None  # this process's name, in a cluster

    async def snapshot(self) -> StatusSnapshot:
        healths = await asyncio.gather(*(self._health(n) for n in self.ctx.venues))
        members = await self.ctx.store.cluster_members() if self.member is not None else []
        return StatusSnapshot(self.ctx.pause.paused, list(healths), self.board.statuses(),
                              members, self.member)

    async def _health(self, name: str) -> VenueHealth:
        venue = self.ctx.venue(name)
        try:
            balance = await asyncio.wait_for(venue.balance(), VENUE_READ_TIMEOUT)
        except TimeoutError:
            return VenueHealth(name, venue.venue, None, timed_out=True)
        except Exception as exc:  # a report names any failure; it never raises
            return VenueHealth(name, venue.venue, None, str(exc) or type(exc).__name__)
        return VenueHealth(name, venue.venue, balance)

    async def job_failed(self, job: str, exc: BaseException) -> None:
        """Recorded every run; alerted once per problem (the venue's code when the error
        has one, so a message that varies is still the same problem), not once per run."""
        self._clean_runs.pop(job, None)
        problem = f"{type(exc).__name__}: {exc}"[:500]
        tell = await self.ctx.alerts.report(_job_key(job), same_problem(exc))
        await self.ctx.publish(JobFailed(job=job, problem=problem, repeat=not tell))

    async def job_ran(self, job: str) -> None:
        """A clean run. A problem is resolved after `CLEAN_RUNS_TO_RESOLVE` in a row, so a
        job that fails every other run is not told "failed" and "resolved" every time."""
        key = _job_key(job)
        if not self.ctx.alerts.is_open(key):
            return
        self._clean_runs[job] = self._clean_runs.get(job, 0) + 1
        if self._clean_runs[job] < CLEAN_RUNS_TO_RESOLVE:
            return
        del self._clean_runs[job]
        cleared = await self.ctx.alerts.clear(key)
        if cleared is not None:
            await self.ctx.publish(ProblemResolved(
                kind="system", job=job, problem=cleared.signature,
                since=cleared.first_at, count=cleared.count))

    async def job_behind(self, job: str, why: str) -> None:
        """A scheduled run skipped (`skipped`) or started late (`late`): counted by the
        scheduler, told once while the loop keeps falling behind — once for the loop, not
        once per account: 200 accounts behind together are one problem, and 200 alerts
        would only put the loop further behind — and once when every account's run has
        kept time `CLEAN_RUNS_TO_RESOLVE` times since the last run that did not."""
        loop = _loop_of(job)
        self._on_time.pop(loop, None)
        self._behind[loop] = self._behind.get(loop, 0) + 1
        if self.ctx.alerts.is_open(_late_key(loop)):
            return  # told already; counted here, not written for every account's run
        if await self.ctx.alerts.report(_late_key(loop), "behind"):
            status = self.board.status(job)
            await self.ctx.publish(JobBehind(
                job=job, why=why, skipped=status.skipped if status else 0,
                late=status.late if status else 0,
                interval=status.interval_seconds if status else 0))

    async def job_on_time(self, job: str) -> None:
        loop = _loop_of(job)
        key = _late_key(loop)
        if not self.ctx.alerts.is_open(key):
            return
        self._on_time[loop] = self._on_time.get(loop, 0) + 1
        if self._on_time[loop] < CLEAN_RUNS_TO_RESOLVE * self._loop_size(loop):
            return
        del self._on_time[loop]
        cleared = await self.ctx.alerts.clear(key)
        behind = self._behind.pop(loop, 0)
        if cleared is not None:
            await self.ctx.publish(ProblemResolved(
                kind="system", job=job, problem=BEHIND,
                since=cleared.first_at, count=max(behind, cleared.count)))

    def _loop_size(self, loop: str) -> int:
        if self._loop_sizes is None:  # the jobs are all scheduled at the start
            self._loop_sizes = Counter(_loop_of(s.name) for s in self.board.statuses())
        return max(1, self._loop_sizes.get(loop, 1))

    def summary(self) -> StartSummary:
        config = self.ctx.config
        rules = config.rules
        accounts = [AccountSummary(a.name, a.venue, a.role, {
            **{rule: a.rule_mode(rule).value  # type: ignore[arg-type]
               for rule in RUNNING_RULES},
            "watcher": a.rules.watcher.value}) for a in config.accounts]
        ladders = {side: [(t.profit_pct, t.close_pct) for t in getattr(rules.take_profit, side)]
                   for side in ("long", "short")}
        return StartSummary(
            demo=config.is_demo, accounts=accounts, ladders=ladders,
            intervals={"take_profit": rules.take_profit.interval_seconds,
                       "watcher": rules.maintenance.watcher.interval_seconds,
                       "correction": rules.correction.interval_seconds},
            paused=self.ctx.pause.paused,
            overrides=[a.name for a in config.accounts if a.take_profit is not None])

    async def started(self) -> None:
        await self.ctx.publish(BotStarted(summary=self.summary()))

    async def stopped(self) -> None:
        await self.ctx.publish(BotStopped())

