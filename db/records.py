"""What the store hands back: frozen dataclasses, never ORM objects.

An ORM object outlives its session badly (lazy loads fail, attributes expire), and the
callers are async handlers that keep results across awaits. Plain values avoid all that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.domain import (
    Fill,
    Liquidity,
    Order,
    OrderSide,
    OrderState,
    OrderType,
    Side,
    TimeInForce,
)
from db.models import (
    ActionRow,
    ActionStepRow,
    ConfirmationRow,
    EventRow,
    FillRow,
    OpenAlertRow,
    OrderRow,
    RuleStateRow,
)


class ActionState(StrEnum):
    PLANNED = "planned"
    RUNNING = "running"
    DONE = "done"
    PARTIAL = "partial"  # some steps completed, then one failed: the report says which
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self not in (ActionState.PLANNED, ActionState.RUNNING)


class StepState(StrEnum):
    PLANNED = "planned"  # journaled with its action's plan, not attempted yet: never sent
    INTENDED = "intended"  # journaled, maybe not sent: look the client id up on restart
    SENT = "sent"  # the venue accepted it; its outcome may still be unknown
    FINAL = "final"
    FAILED = "failed"
    SKIPPED = "skipped"


class Origin(StrEnum):
    COMMAND = "command"
    RULE = "rule"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class ConfirmationState(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class ConfirmReason(StrEnum):
    """Why a button press did not go through; each maps to its own user message."""

    UNKNOWN = "unknown"
    ALREADY_USED = "already_used"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    WRONG_USER = "wrong_user"


@dataclass(frozen=True, slots=True)
class ConfirmResult:
    ok: bool
    reason: ConfirmReason | None = None
    kind: str | None = None
    payload: dict[str, Any] | None = None  # only when ok: never leak it to another user


@dataclass(frozen=True, slots=True)
class ClusterMember:
    """A live process of a cluster: its name (host:pid:tag), the accounts it acts for,
    and whether it polls Telegram."""

    name: str
    accounts: int
    polls: bool


@dataclass(frozen=True, slots=True)
class Confirmation:
    id: str
    user_id: int
    chat_id: int
    message_id: int | None
    kind: str
    payload: dict[str, Any]
    state: ConfirmationState
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None

    @classmethod
    def of(cls, row: ConfirmationRow) -> Confirmation:
        return cls(row.id, row.user_id, row.chat_id, row.message_id, row.kind,
                   dict(row.payload), ConfirmationState(row.state), row.created_at,
                   row.expires_at, row.used_at)


@dataclass(frozen=True, slots=True)
class OpenAlert:
    key: str
    signature: str
    first_at: datetime
    last_at: datetime
    count: int

    @classmethod
    def of(cls, row: OpenAlertRow) -> OpenAlert:
        return cls(row.key, row.signature, row.first_at, row.last_at, row.count)


@dataclass(frozen=True, slots=True)
class PauseState:
    paused: bool
    by_user: int | None = None
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    time: datetime
    name: str
    severity: Severity
    message: str
    account: str | None
    symbol: str | None
    side: str | None
    data: dict[str, Any] | None
    action_id: int | None

    @classmethod
    def of(cls, row: EventRow) -> EventRecord:
        return cls(row.id, row.time, row.name, Severity(row.severity), row.message,
                   row.account, row.symbol, row.side, row.data, row.action_id)


@dataclass(frozen=True, slots=True)
class RuleStateRecord:
    account: str
    symbol: str
    side: str
    rule: str
    state: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: RuleStateRow) -> RuleStateRecord:
        return cls(row.account, row.symbol, row.side, row.rule, dict(row.state),
                   row.created_at, row.updated_at)


@dataclass(frozen=True, slots=True)
class StepRecord:
    id: int
    action_id: int
    seq: int
    kind: str
    state: StepState
    client_id: str | None
    params: dict[str, Any]
    result: dict[str, Any] | None
    error_code: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: ActionStepRow) -> StepRecord:
        return cls(row.id, row.action_id, row.seq, row.kind, StepState(row.state),
                   row.client_id, dict(row.params), row.result, row.error_code,
                   row.error_message, row.created_at, row.updated_at)


@dataclass(frozen=True, slots=True)
class ActionRecord:
    id: int
    kind: str
    account: str
    symbol: str | None
    side: str | None
    origin: Origin
    state: ActionState
    plan: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    requested_by: int | None
    chat_id: int | None
    message_id: int | None
    created_at: datetime
    updated_at: datetime
    steps: tuple[StepRecord, ...] = ()

    @classmethod
    def of(cls, row: ActionRow, steps: tuple[StepRecord, ...] = ()) -> ActionRecord:
        return cls(row.id, row.kind, row.account, row.symbol, row.side, Origin(row.origin),
                   ActionState(row.state), dict(row.plan), row.result, row.error,
                   row.requested_by, row.chat_id, row.message_id, row.created_at,
                   row.updated_at, steps)


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """A stored order: the domain `Order` plus where it came from.

    `order.created_at` / `updated_at` are when this store first and last recorded it.
    """

    id: int
    account: str
    order: Order
    action_id: int | None
    step_id: int | None

    @classmethod
    def of(cls, row: OrderRow) -> OrderRecord:
        order = Order(
            client_id=row.client_id,
            venue_id=row.venue_id or "",
            symbol=row.symbol,
            side=OrderSide(row.side),
            position_side=Side(row.position_side),
            type=OrderType(row.type),
            size=row.size,
            price=row.price,
            reduce_only=row.reduce_only,
            time_in_force=TimeInForce(row.time_in_force),
            expire_at=row.expire_at,
            state=OrderState(row.state),
            filled_size=row.filled_size,
            average_price=row.average_price,
            fee=row.fee,
            realized_pnl=row.realized_pnl,
            created_at=row.created_at,
            updated_at=row.updated_at,
            reject_code=row.reject_code,
            reject_reason=row.reject_reason,
        )
        return cls(row.id, row.account, order, row.action_id, row.step_id)


@dataclass(frozen=True, slots=True)
class FillRecord:
    id: int
    account: str
    fill: Fill

    @classmethod
    def of(cls, row: FillRow) -> FillRecord:
        fill = Fill(
            trade_id=row.trade_id,
            order_venue_id=row.order_venue_id,
            client_id=row.order_client_id,
            symbol=row.symbol,
            side=OrderSide(row.side),
            position_side=Side(row.position_side),
            size=row.size,
            price=row.price,
            fee=row.fee,
            realized_pnl=row.realized_pnl,
            liquidity=Liquidity(row.liquidity),
            time=row.time,
        )
        return cls(row.id, row.account, fill)


def order_columns(order: Order) -> dict[str, Any]:
    """The columns an `Order` snapshot sets; ids and timestamps are the store's business."""
    return {
        "symbol": order.symbol,
        "venue_id": order.venue_id or None,
        "side": order.side.value,
        "position_side": order.position_side.value,
        "type": order.type.value,
        "size": order.size,
        "price": order.price,
        "reduce_only": order.reduce_only,
        "time_in_force": order.time_in_force.value,
        "expire_at": order.expire_at,
        "state": order.state.value,
        "filled_size": order.filled_size,
        "average_price": order.average_price,
        "fee": order.fee,
        "realized_pnl": order.realized_pnl,
        "reject_code": order.reject_code,
        "reject_reason": order.reject_reason,
    }


def fill_columns(account: str, fill: Fill) -> dict[str, Any]:
    return {
        "account": account,
        "trade_id": fill.trade_id,
        "order_client_id": fill.client_id,
        "order_venue_id": fill.order_venue_id,
        "symbol": fill.symbol,
        "side": fill.side.value,
        "position_side": fill.position_side.value,
        "size": fill.size,
        "price": fill.price,
        "fee": fill.fee,
        "realized_pnl": fill.realized_pnl,
        "liquidity": fill.liquidity.value,
        "time": fill.time,
    }
