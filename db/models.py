"""Tables: every order, fill, journaled action, rule state, event and pending confirmation.

Enum-like columns (side, state, ...) are plain strings without CHECK constraints: the
values come from `bot.domain` enums and `db.records`, and a new state (an order *lost*
after repeated look-ups, say) should not need a table rebuild on SQLite.

`db/migrations/versions/` must describe exactly these tables; `tests/test_db.py` compares
a migrated database with this metadata, so a change here without a migration fails there.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.types import DecimalText, UTCDateTime, utcnow

# Named constraints: SQLite batch migrations rebuild tables and can only drop or alter a
# constraint that has a name, and PostgreSQL gets predictable names as a bonus.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONDoc = JSON(none_as_null=True)  # a Python None is SQL NULL, not the JSON text 'null'


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        Decimal: DecimalText(),
        datetime: UTCDateTime(),
        dict[str, Any]: JSONDoc,
        bool: Boolean(),
    }


class Timestamps:
    """Row bookkeeping. The store passes its injected clock; the defaults are a fallback."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ActionRow(Timestamps, Base):
    """A journaled multi-step action: a close, a maintenance, a take-profit, ..."""

    __tablename__ = "actions"
    __table_args__ = (
        Index(None, "account", "symbol", "side"),
        Index(None, "state"),
        Index(None, "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    account: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str | None] = mapped_column(String(64))
    side: Mapped[str | None] = mapped_column(String(8))
    origin: Mapped[str] = mapped_column(String(16))  # "command" | "rule"
    requested_by: Mapped[int | None] = mapped_column(BigInteger)  # Telegram user id
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)  # progress message
    state: Mapped[str] = mapped_column(String(16))
    plan: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)


class ActionStepRow(Timestamps, Base):
    """One step of an action, written *before* it is sent so a crash leaves a trace."""

    __tablename__ = "action_steps"
    __table_args__ = (
        UniqueConstraint("action_id", "seq"),
        UniqueConstraint("client_id"),  # NULLs are distinct: unique only when set
        Index(None, "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    client_id: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any] | None]
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)


class OrderRow(Timestamps, Base):
    """The latest known state of an order, keyed by the client id we gave it."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("account", "client_id"),
        Index(None, "account", "venue_id"),
        Index(None, "state"),
        Index(None, "action_id"),
        Index(None, "step_id"),
        Index(None, "symbol", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    venue_id: Mapped[str | None] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(8))  # buy | sell
    position_side: Mapped[str] = mapped_column(String(8))  # long | short
    type: Mapped[str] = mapped_column(String(16))
    size: Mapped[Decimal]
    price: Mapped[Decimal | None]
    reduce_only: Mapped[bool]
    time_in_force: Mapped[str] = mapped_column(String(8))
    expire_at: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(24))
    filled_size: Mapped[Decimal]
    average_price: Mapped[Decimal | None]
    fee: Mapped[Decimal]
    realized_pnl: Mapped[Decimal]
    reject_code: Mapped[str | None] = mapped_column(String(32))
    reject_reason: Mapped[str | None] = mapped_column(Text)
    action_id: Mapped[int | None] = mapped_column(ForeignKey("actions.id"))
    step_id: Mapped[int | None] = mapped_column(ForeignKey("action_steps.id"))


class FillRow(Base):
    """One execution. Unique per (account, symbol, trade_id): OKX numbers trades per
    instrument, so a trade id alone may repeat across instruments of one account."""

    __tablename__ = "fills"
    __table_args__ = (
        UniqueConstraint("account", "symbol", "trade_id"),
        Index(None, "account", "order_client_id"),
        Index(None, "order_venue_id"),
        Index(None, "symbol", "time"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(64))
    trade_id: Mapped[str] = mapped_column(String(64))
    order_client_id: Mapped[str] = mapped_column(String(64))
    order_venue_id: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(8))
    position_side: Mapped[str] = mapped_column(String(8))
    size: Mapped[Decimal]
    price: Mapped[Decimal]
    fee: Mapped[Decimal]
    realized_pnl: Mapped[Decimal]
    liquidity: Mapped[str] = mapped_column(String(8))
    time: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RuleStateRow(Timestamps, Base):
    """Per-position memory of a rule: fired TP tiers, maintenance count, last alert time."""

    __tablename__ = "rule_state"
    __table_args__ = (
        UniqueConstraint("account", "symbol", "side", "rule"),
        Index(None, "rule"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(8))
    rule: Mapped[str] = mapped_column(String(32))
    state: Mapped[dict[str, Any]]


class EventRow(Base):
    """The timeline behind `/why`: one row per decision, alert or failure."""

    __tablename__ = "events"
    __table_args__ = (
        Index(None, "symbol", "time"),
        Index(None, "name", "time"),
        Index(None, "time"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[datetime]
    name: Mapped[str] = mapped_column(String(64))
    account: Mapped[str | None] = mapped_column(String(64))
    symbol: Mapped[str | None] = mapped_column(String(64))
    side: Mapped[str | None] = mapped_column(String(8))
    severity: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None]
    action_id: Mapped[int | None] = mapped_column(ForeignKey("actions.id"))


class ConfirmationRow(Base):
    """A pending [Confirm]/[Cancel] prompt. The id rides in callback_data, hence short."""

    __tablename__ = "confirmations"
    __table_args__ = (Index(None, "state", "expires_at"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class SettingRow(Base):
    """Global switches that change at run time (pause, language), unlike the YAML config."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONDoc)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OpenAlertRow(Base):
    """A problem or decision the user has been told about and that still holds: a rule's
    close failing for the same reason, a job failing, an observe-mode decision. Kept so
    the same thing is not alerted every run, nor again after a restart."""

    __tablename__ = "open_alerts"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    signature: Mapped[str] = mapped_column(Text)  # what makes it "the same" (an error code)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer)  # runs it was seen in


class LeaseRow(Base):
    """In a cluster (several processes on one PostgreSQL database): which process acts for
    an account, or polls Telegram, and until when by the database's clock. `epoch` grows
    with every change of holder: a write checks holder and epoch, so a process that lost
    the lease while paused writes nothing (bot/cluster.py)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)  # account:main, telegram
    holder: Mapped[str | None] = mapped_column(String(200))
    epoch: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MemberRow(Base):
    """A process of the cluster, alive while it renews: how many share the accounts."""

    __tablename__ = "cluster_members"

    holder: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HandoffRow(Base):
    """A Telegram update (a button press) the polling process received for an account
    another process holds: that one takes it from here (handlers/handoff.py); a row until
    a holder of the account takes it, whichever process that is by then."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(100), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # the update, as Telegram sent it
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
