"""One typed event per outcome, each with the stable `name` that the events table, the
log line, the alerts and `/why` share; and the bus that records and delivers them.

`base` has the bus and the base classes; the events live by subject in `rules`
(take-profit, hedge, the watcher), `actions` (closes, maintenance) and `system` (problems
resolved, jobs, start and stop, the position log, the control plane).
"""

from bot.ops.events.actions import (
    ActionSettled,
    CloseFinished,
    MaintenanceBusy,
    MaintenanceEvent,
    MaintenanceFinished,
    MaintenanceNotResumed,
    MaintenanceProgress,
)
from bot.ops.events.base import (
    Event,
    EventBus,
    PositionEvent,
    Subscriber,
)
from bot.ops.events.rules import (
    CorrectionEvent,
    CorrectionFailed,
    CorrectionObserved,
    GridDecided,
    GridEvent,
    GridOrderEnded,
    HedgeClosed,
    HedgeFailed,
    HedgeObserved,
    LadderReset,
    LadderRestarted,
    PositionCorrected,
    RuleSkipped,
    TierFailed,
    TierFired,
    TierObserved,
    WatcherAlerted,
    WatcherAutoRefused,
)
from bot.ops.events.system import (
    BotStarted,
    BotStopped,
    HandlerFailed,
    JobFailed,
    Paused,
    PositionChanged,
    ProblemResolved,
    Reconciled,
    Resumed,
    StaleUpdateDropped,
    Unauthorized,
)

__all__ = [
    "ActionSettled",
    "BotStarted",
    "BotStopped",
    "CloseFinished",
    "CorrectionEvent",
    "CorrectionFailed",
    "CorrectionObserved",
    "GridDecided",
    "GridEvent",
    "GridOrderEnded",
    "Event",
    "EventBus",
    "HandlerFailed",
    "HedgeClosed",
    "HedgeFailed",
    "HedgeObserved",
    "JobFailed",
    "LadderReset",
    "LadderRestarted",
    "MaintenanceBusy",
    "MaintenanceEvent",
    "MaintenanceFinished",
    "MaintenanceNotResumed",
    "MaintenanceProgress",
    "Paused",
    "PositionChanged",
    "PositionCorrected",
    "PositionEvent",
    "ProblemResolved",
    "Reconciled",
    "Resumed",
    "RuleSkipped",
    "StaleUpdateDropped",
    "Subscriber",
    "TierFailed",
    "TierFired",
    "TierObserved",
    "Unauthorized",
    "WatcherAlerted",
    "WatcherAutoRefused",
]
