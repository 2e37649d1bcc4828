"""What became of a close the user commanded, and of a maintenance, step by step."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bot.domain import Order
from bot.ops.events.base import Event, PositionEvent
from db.records import Severity

if TYPE_CHECKING:
    from bot.closing import CloseResult
    from bot.maintenance import MaintenancePlan
    from bot.ops.maintenance import MaintenanceReport


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
    requested_by: int | None = None  # the user who asked: a [Retry] is theirs

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

    def message(self) -> str:
        return "interrupted by a restart while paused: offered with [Retry]"


@dataclass(frozen=True, kw_only=True)
class ActionSettled(Event):
    """An action ended after nobody was waiting for it any more: its last order, followed
    in the background, ended, or a restart found how it ended (what was never sent
    included). Told in the alert chats, and in the action's own message if it has one."""

    name = "action_settled"
    kind: str  # the action's kind: close, take_profit, hedge
    where: tuple[str, str, str]  # (account, symbol, side)
    action: int
    state: str  # done | partial | failed
    filled: Decimal  # contracts
    meant: Decimal  # contracts the action set out to close
    chat_id: int | None = None
    message_id: int | None = None
    pushed: bool = True  # False: the start's `Reconciled` alert told it already

    @property
    def alert(self) -> str:  # type: ignore[override]
        return self.kind if self.kind in ("close", "take_profit", "hedge") else "system"

    @property
    def account(self) -> str:
        return self.where[0]

    @property
    def symbol(self) -> str:
        return self.where[1]

    @property
    def side(self) -> str:
        return self.where[2]

    @property
    def action_id(self) -> int:
        return self.action

    def message(self) -> str:
        return f"{self.kind} {self.state}: filled {self.filled} of {self.meant}"


@dataclass(frozen=True, kw_only=True)
class OrderCancelled(Event):
    """A user cancelled one of the bot's resting orders (`/orders`)."""

    name = "order_cancelled"
    order: Order
    account_name: str
    action: int | None
    by_user: int | None = None

    @property
    def account(self) -> str:
        return self.account_name

    @property
    def symbol(self) -> str:
        return self.order.symbol

    @property
    def side(self) -> str:
        return self.order.position_side.value

    @property
    def action_id(self) -> int | None:
        return self.action

    def message(self) -> str:
        o = self.order
        return (f"{o.side.value} {o.size} at {o.price} ({o.client_id}) {o.state.value}, "
                f"filled {o.filled_size}; by user {self.by_user}")

    def data(self) -> dict[str, Any]:
        o = self.order
        return {"client_id": o.client_id, "venue_id": o.venue_id, "side": o.side.value,
                "size": str(o.size), "price": str(o.price or ""), "state": o.state.value,
                "filled": str(o.filled_size), "by_user": self.by_user}
