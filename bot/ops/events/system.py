"""The bot's own life: problems that cleared, failing jobs, start and stop, what the
position log saw change, and what the control plane did or turned away."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.ops.events.base import Event
from db.records import Severity

if TYPE_CHECKING:
    from bot.ops.status import StartSummary


@dataclass(frozen=True, kw_only=True)
class ProblemResolved(Event):
    """A problem alerted once (a rule's close failing, a job failing) holds no more."""

    name = "problem_resolved"
    kind: str  # the alert kind it was told under: "take_profit", "hedge", "system"
    problem: str  # what made the failures the same (a venue code, an error)
    since: datetime
    count: int  # runs it was seen in
    where: tuple[str, str, str] | None = None  # (account, symbol, side) of a position
    job: str | None = None

    @property
    def alert(self) -> str:  # type: ignore[override]
        return self.kind

    @property
    def account(self) -> str | None:
        return self.where[0] if self.where else None

    @property
    def symbol(self) -> str | None:
        return self.where[1] if self.where else None

    @property
    def side(self) -> str | None:
        return self.where[2] if self.where else None

    def message(self) -> str:
        what = f"job {self.job}" if self.job else self.kind
        return f"{what}: resolved after {self.count} runs ({self.problem})"


@dataclass(frozen=True, kw_only=True)
class JobFailed(Event):
    name = "job_failed"
    alert = "system"
    severity = Severity.ERROR
    job: str
    problem: str

    def message(self) -> str:
        return f"{self.job}: {self.problem}"

    def data(self) -> dict[str, Any]:
        return {"job": self.job}


@dataclass(frozen=True, kw_only=True)
class JobBehind(Event):
    """A job's scheduled runs are skipped or late: told once while it stays behind."""

    name = "job_behind"
    alert = "system"
    severity = Severity.WARNING
    job: str
    why: str  # skipped | late
    skipped: int
    late: int
    interval: float

    def message(self) -> str:
        return (f"{self.job}: a run {self.why} (every {self.interval:g} s; skipped "
                f"{self.skipped}, late {self.late} so far)")

    def data(self) -> dict[str, Any]:
        return {"job": self.job, "why": self.why, "skipped": self.skipped,
                "late": self.late}


@dataclass(frozen=True, kw_only=True)
class Reconciled(Event):
    name = "reconciled"
    alert = "system"
    severity = Severity.WARNING
    lines: Sequence[str]

    def message(self) -> str:
        return "; ".join(self.lines)


@dataclass(frozen=True, kw_only=True)
class BotStarted(Event):
    name = "bot_started"
    alert = "system"
    summary: StartSummary

    def message(self) -> str:
        return self.summary.line()


@dataclass(frozen=True, kw_only=True)
class BotStopped(Event):
    name = "bot_stopped"
    alert = "system"

    def message(self) -> str:
        return "stopped cleanly"


@dataclass(frozen=True, kw_only=True)
class PositionChanged(Event):
    """What the position log saw change between two reads, by the bot or anyone else."""

    where: tuple[str, str, str]  # (account, symbol, side)
    change: str  # "opened" | "increased" | "reduced" | "entry_changed" | "closed"
    before: dict[str, str] | None = None
    after: dict[str, str] | None = None

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"position_{self.change}"

    @property
    def account(self) -> str:
        return self.where[0]

    @property
    def symbol(self) -> str:
        return self.where[1]

    @property
    def side(self) -> str:
        return self.where[2]

    def message(self) -> str:
        old = self.before["size"] if self.before else "0"
        new = self.after["size"] if self.after else "0"
        if self.change == "opened":
            return f"{self.symbol} {self.side} {new} opened"
        return f"{self.symbol} {self.side} {old} -> {new}"

    def data(self) -> dict[str, Any]:
        return {"before": self.before, "after": self.after} if self.after else \
            {"before": self.before}


@dataclass(frozen=True, kw_only=True)
class Paused(Event):
    name = "paused"
    severity = Severity.WARNING
    by_user: int | None

    def message(self) -> str:
        return f"paused by user {self.by_user}"


@dataclass(frozen=True, kw_only=True)
class Resumed(Event):
    name = "resumed"
    by_user: int | None

    def message(self) -> str:
        return f"resumed by user {self.by_user}"


@dataclass(frozen=True, kw_only=True)
class Unauthorized(Event):
    name = "unauthorized"
    severity = Severity.WARNING
    user_id: int | None
    username: str | None
    said: str
    unanswered: int = 0  # strangers' messages not answered (nor recorded) since the last

    def message(self) -> str:
        more = f" ({self.unanswered} more unanswered before)" if self.unanswered else ""
        return f"refused user {self.user_id}: {self.said[:200]}{more}"

    def data(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "username": self.username,
                "unanswered": self.unanswered}


@dataclass(frozen=True, kw_only=True)
class StaleUpdateDropped(Event):
    name = "stale_update_dropped"
    severity = Severity.WARNING
    said: str
    age_seconds: int

    def message(self) -> str:
        return f"not executed: {self.said[:200]}"

    def data(self) -> dict[str, Any]:
        return {"age_seconds": self.age_seconds}


@dataclass(frozen=True, kw_only=True)
class HandlerFailed(Event):
    name = "handler_failed"
    severity = Severity.ERROR
    error: str

    def message(self) -> str:
        return self.error
