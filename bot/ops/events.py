"""One typed event per outcome, and the bus that records, logs and delivers them.

Each event has the stable `name` that the events table, the log line, the alerts and
`/why` share. An op publishes; the bus writes the event to the database, logs one line,
and hands it to the fronts that subscribed (the Telegram alerts, later a status page),
which render it in their own words. `alert` names the `telegram.alerts` kind an event is
pushed under (None: recorded, not pushed). An event marked `repeat` is a problem the
user was already told about: recorded and logged, never delivered again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from bot.domain import Position
from bot.rules.hedge import HedgeClose
from bot.rules.take_profit import TierClose
from db.records import Severity
from db.repo import Store

if TYPE_CHECKING:
    from bot.closing import CloseResult
    from bot.maintenance import MaintenancePlan
    from bot.ops.maintenance import MaintenanceReport
    from bot.ops.refusal import Refusal
    from bot.ops.status import StartSummary

log = logging.getLogger("bot.events")


@dataclass(frozen=True, kw_only=True)
class Event:
    name: ClassVar[str]
    alert: ClassVar[str | None] = None
    severity: ClassVar[Severity] = Severity.INFO
    recorded: ClassVar[bool] = True  # progress is shown, not recorded
    repeat: bool = False

    @property
    def account(self) -> str | None:
        return None

    @property
    def symbol(self) -> str | None:
        return None

    @property
    def side(self) -> str | None:
        return None

    @property
    def action_id(self) -> int | None:
        return None

    def message(self) -> str:
        """The line the log and the events table keep: plain English, exact numbers."""
        return self.name

    def data(self) -> dict[str, Any] | None:
        return None


@dataclass(frozen=True, kw_only=True)
class PositionEvent(Event):
    """An event about one position; `position` as the op read it."""

    position: Position
    action: int | None = None

    @property
    def account(self) -> str:
        return self.position.account

    @property
    def symbol(self) -> str:
        return self.position.symbol

    @property
    def side(self) -> str:
        return self.position.side.value

    @property
    def action_id(self) -> int | None:
        return self.action


# -- take-profit and hedge -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TierFired(PositionEvent):
    name = "tp_fired"
    alert = "take_profit"
    decision: TierClose
    result: CloseResult

    def message(self) -> str:
        return (f"tier {self.decision.tier}: closed {self.result.filled_size} of "
                f"{self.decision.size}; " + "; ".join(self.result.errors)).strip("; ")


@dataclass(frozen=True, kw_only=True)
class TierFailed(PositionEvent):
    name = "tp_failed"
    alert = "take_profit"
    severity = Severity.ERROR
    decision: TierClose
    error: str

    def message(self) -> str:
        return f"tier {self.decision.tier}: {self.error}"


@dataclass(frozen=True, kw_only=True)
class TierObserved(PositionEvent):
    name = "tp_would_fire"
    alert = "take_profit"
    decision: TierClose

    def message(self) -> str:
        return (f"tier {self.decision.tier}: would close {self.decision.size} of "
                f"{self.position.size}")


@dataclass(frozen=True, kw_only=True)
class LadderRestarted(PositionEvent):
    name = "tp_ladder_restarted"

    def message(self) -> str:
        return f"{self.position.symbol} {self.position.side}: new entry {self.position.entry_price}"


@dataclass(frozen=True, kw_only=True)
class HedgeClosed(PositionEvent):
    name = "hedge_closed"
    alert = "hedge"
    decision: HedgeClose
    result: CloseResult

    def message(self) -> str:
        return (f"closed {self.result.filled_size} of {self.decision.size} "
                f"({'; '.join(self.result.errors)})")


@dataclass(frozen=True, kw_only=True)
class HedgeFailed(PositionEvent):
    name = "hedge_failed"
    alert = "hedge"
    severity = Severity.ERROR
    decision: HedgeClose
    error: str

    def message(self) -> str:
        return f"closing {self.decision.size} of {self.position.size}: {self.error}"


@dataclass(frozen=True, kw_only=True)
class HedgeObserved(PositionEvent):
    name = "hedge_would_close"
    alert = "hedge"
    decision: HedgeClose

    def message(self) -> str:
        return f"would close {self.decision.size} of {self.position.size}"


@dataclass(frozen=True, kw_only=True)
class RuleSkipped(PositionEvent):
    """A rule left a position alone right before acting: another action holds it
    (`busy`), or it changed since the run read it (`changed`)."""

    rule: str  # "tp" | "hedge"
    why: str  # "busy" | "changed"

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.rule}_skipped_{self.why}"

    def message(self) -> str:
        return ("another action is working on this position" if self.why == "busy" else
                "the position changed since the run read it; decided again next run")


@dataclass(frozen=True, kw_only=True)
class LadderReset(Event):
    name = "tp_reset"
    key: tuple[str, str, str]  # (account, symbol, side)
    by_user: int

    @property
    def account(self) -> str:
        return self.key[0]

    @property
    def symbol(self) -> str:
        return self.key[1]

    @property
    def side(self) -> str:
        return self.key[2]

    def message(self) -> str:
        return f"ladder reset by user {self.by_user}"


# -- closes and maintenance -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CloseFinished(PositionEvent):
    """A close the user commanded; its own message shows the report, so it is not pushed."""

    result: CloseResult

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"close_{self.result.state}"

    def message(self) -> str:
        p = self.position
        return f"{p.symbol} {p.side} {self.result.filled_size}/{self.result.plan.size}"


@dataclass(frozen=True, kw_only=True)
class MaintenanceEvent(Event):
    """About one maintenance action. A front shows it in the message the action reports
    in (`chat_id`/`message_id`), or, for one nobody typed, in the alert chats."""

    plan: MaintenancePlan
    action: int
    chat_id: int | None = None
    message_id: int | None = None

    @property
    def account(self) -> str:
        return self.plan.account

    @property
    def symbol(self) -> str:
        return self.plan.symbol

    @property
    def side(self) -> str:
        return self.plan.side.value

    @property
    def action_id(self) -> int:
        return self.action


@dataclass(frozen=True, kw_only=True)
class MaintenanceProgress(MaintenanceEvent):
    name = "maintenance_progress"
    recorded = False
    report: MaintenanceReport


@dataclass(frozen=True, kw_only=True)
class MaintenanceFinished(MaintenanceEvent):
    alert = "maintenance"
    report: MaintenanceReport

    @property
    def name(self) -> str:  # type: ignore[override]
        return "maintenance_done" if self.report.result.done else "maintenance_failed"

    @property
    def severity(self) -> Severity:  # type: ignore[override]
        return Severity.INFO if self.report.result.done else Severity.WARNING

    def message(self) -> str:
        result = self.report.result
        if result.done:
            return f"{self.plan.kind} #{self.report.count}"
        return f"step {result.failed_step}: {result.error}"


@dataclass(frozen=True, kw_only=True)
class MaintenanceBusy(MaintenanceEvent):
    name = "maintenance_busy"
    alert = "maintenance"
    severity = Severity.WARNING

    def message(self) -> str:
        return "another action is working on this position: nothing sent"


@dataclass(frozen=True, kw_only=True)
class MaintenanceNotResumed(MaintenanceEvent):
    """Interrupted by a restart while the bot is paused: offered, not resumed."""

    name = "maintenance_not_resumed"
    alert = "maintenance"
    severity = Severity.WARNING
    requested_by: int | None = None

    def message(self) -> str:
        return "interrupted by a restart while paused: offered with [Retry]"


# -- the watcher -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class WatcherAlerted(PositionEvent):
    """A position fell to the watcher's loss. `ask` asks with buttons; `auto` runs a
    super maintenance, whose own report follows."""

    name = "watcher_alert"
    alert = "watcher"
    mode: str
    loss_pct: Decimal

    def message(self) -> str:
        return f"profit {self.position.profit_rate:.2f}% <= {self.loss_pct}% ({self.mode})"


@dataclass(frozen=True, kw_only=True)
class WatcherAutoRefused(PositionEvent):
    name = "watcher_auto_refused"
    alert = "watcher"
    severity = Severity.WARNING
    refusal: Refusal

    def message(self) -> str:
        return f"refused: {self.refusal.key} {self.refusal.values}"


# -- problems, jobs, start and stop ----------------------------------------------------


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


# -- the control plane -----------------------------------------------------------------


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

    def message(self) -> str:
        return f"refused user {self.user_id}: {self.said[:200]}"

    def data(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "username": self.username}


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


Subscriber = Callable[[Event], Awaitable[None]]

_LEVELS = {Severity.INFO: logging.INFO, Severity.WARNING: logging.WARNING,
           Severity.ERROR: logging.ERROR}


@dataclass(slots=True)
class EventBus:
    """Records every event, logs it in one line, and delivers it to the fronts."""

    store: Store
    subscribers: list[Subscriber] = field(default_factory=list)

    def subscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.append(subscriber)

    async def publish(self, event: Event) -> None:
        if event.recorded:
            self.store.record_event(event.name, event.message()[:500], account=event.account,
                                    symbol=event.symbol, side=event.side,
                                    severity=event.severity, data=event.data(),
                                    action_id=event.action_id)
            line = " ".join(x for x in (event.account, event.symbol, event.side,
                                        event.message()[:500]) if x)
            log.log(_LEVELS[Severity(event.severity)], "%s %s%s", event.name, line,
                    " (repeat)" if event.repeat else "")
        if event.repeat:
            return
        for deliver in self.subscribers:
            try:
                await deliver(event)
            except Exception:  # showing an event must never stop the op that had it
                log.exception("event_not_delivered name=%s", event.name)
