"""Settings, events and confirmations: the control-plane half of `db.repo.Store`.

Split out only to keep modules small; use `db.repo.Store`, which has all of these.
Every method is its own short transaction (callers are async handlers that must not hold
a session across an `await`), and time comes from the injected clock or a `now` argument.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from bot.domain import Side
from db.models import (
    ConfirmationRow,
    EventRow,
    LeaseRow,
    MemberRow,
    OpenAlertRow,
    SettingRow,
)
from db.records import (
    ClusterMember,
    Confirmation,
    ConfirmationState,
    ConfirmReason,
    ConfirmResult,
    EventRecord,
    OpenAlert,
    PauseState,
    Severity,
)
from db.session import Database
from db.types import utcnow

PAUSE_KEY = "paused"
LANGUAGE_KEY = "language"
TELEGRAM_LEASE = "telegram"  # db/leases.py's name for the poller's lease
SETTINGS_CHANNEL = "bot_settings"  # PostgreSQL NOTIFY: a setting changed (a cluster)
TOKEN_BYTES = 12  # 16 url-safe characters: fits Telegram's 64-byte callback_data


def side_text(side: Side | str | None) -> str | None:
    return None if side is None else str(side)


class ControlStore:
    def __init__(self, db: Database, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = db
        self._clock = clock

    @property
    def db(self) -> Database:
        return self._db

    @property
    def clock(self) -> Callable[[], datetime]:
        return self._clock

    def _now(self, now: datetime | None = None) -> datetime:
        return now if now is not None else self._clock()

    # -- settings ------------------------------------------------------------------------

    def get_setting(self, key: str, default: Any = None) -> Any:
        with self._db.session() as s:
            row = s.get(SettingRow, key)
            return default if row is None else row.value

    def set_setting(self, key: str, value: Any) -> None:
        """Store `value` (any JSON-able value); None removes the key. On PostgreSQL the
        other processes of a cluster are told (NOTIFY on SETTINGS_CHANNEL, on commit)."""
        with self._db.session() as s:
            if not self._db.is_sqlite:
                s.execute(text("SELECT pg_notify(:channel, :key)"),
                          {"channel": SETTINGS_CHANNEL, "key": key})
            row = s.get(SettingRow, key)
            if value is None:
                if row is not None:
                    s.delete(row)
            elif row is None:
                s.add(SettingRow(key=key, value=value, updated_at=self._now()))
            else:
                row.value = value
                row.updated_at = self._now()

    def pause_state(self) -> PauseState:
        value = self.get_setting(PAUSE_KEY)
        if not isinstance(value, dict) or not value.get("paused"):
            return PauseState(paused=False)
        since = value.get("since")
        return PauseState(True, value.get("by"),
                          datetime.fromisoformat(since) if since else None)

    def is_paused(self) -> bool:
        return self.pause_state().paused

    def set_paused(self, paused: bool, by_user: int | None = None) -> None:
        """Persist the global pause with who set it and when. The caller records the
        `paused`/`resumed` event: it knows the context (command, chat) to put in it."""
        now = self._now()
        value = {"paused": True, "by": by_user, "since": now.isoformat()} if paused else None
        self.set_setting(PAUSE_KEY, value)

    def language(self, default: str | None = None) -> str | None:
        """The language chosen with /lang, else `default` (the config's, which owns
        the default, so none is hard-coded here)."""
        value = self.get_setting(LANGUAGE_KEY)
        return default if value is None else str(value)

    def set_language(self, code: str) -> None:
        self.set_setting(LANGUAGE_KEY, code)

    # -- a cluster's members (db/leases.py) ---------------------------------------------

    def cluster_members(self) -> list[ClusterMember]:
        """The live processes of a cluster and how many accounts each holds (none when the
        bot runs alone), by the database's clock."""
        now = func.now()
        with self._db.reading() as s:
            members = s.scalars(select(MemberRow.holder).where(MemberRow.expires_at > now)
                                .order_by(MemberRow.started_at)).all()
            held = s.execute(select(LeaseRow.holder, LeaseRow.name).where(
                LeaseRow.expires_at > now, LeaseRow.holder.is_not(None))).all()
        return [ClusterMember(member,
                              sum(1 for h, n in held if h == member and n != TELEGRAM_LEASE),
                              any(h == member and n == TELEGRAM_LEASE for h, n in held))
                for member in members]

    # -- events --------------------------------------------------------------------------

    def record_event(self, name: str, message: str, *, account: str | None = None,
                     symbol: str | None = None, side: Side | str | None = None,
                     severity: Severity | str = Severity.INFO,
                     data: Mapping[str, Any] | None = None,
                     action_id: int | None = None) -> int:
        row = EventRow(time=self._now(), name=name, message=message, account=account,
                       symbol=symbol, side=side_text(side), severity=Severity(severity).value,
                       data=None if data is None else dict(data), action_id=action_id)
        with self._db.session() as s:
            s.add(row)
            s.flush()
            return row.id

    def record_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Several events in one transaction (each a mapping of `record_event`'s
        arguments): a position log's first run over 1,000 positions is one commit."""
        now = self._now()
        with self._db.session() as s:
            s.add_all([EventRow(time=now, name=e["name"], message=e["message"],
                                account=e.get("account"), symbol=e.get("symbol"),
                                side=side_text(e.get("side")),
                                severity=Severity(e.get("severity", Severity.INFO)).value,
                                data=None if e.get("data") is None else dict(e["data"]),
                                action_id=e.get("action_id")) for e in events])

    def recent_events(self, limit: int = 20, symbol: str | None = None,
                      name: str | None = None, account: str | None = None,
                      symbols: Collection[str] | None = None) -> list[EventRecord]:
        """Newest first."""
        query = select(EventRow).order_by(EventRow.time.desc(), EventRow.id.desc())
        if symbol is not None:
            query = query.where(EventRow.symbol == symbol)
        if symbols is not None:
            query = query.where(EventRow.symbol.in_(list(symbols)))
        if name is not None:
            query = query.where(EventRow.name == name)
        if account is not None:
            query = query.where(EventRow.account == account)
        with self._db.session() as s:
            return [EventRecord.of(r) for r in s.scalars(query.limit(limit))]

    def event_symbols(self) -> list[str]:
        """Every instrument an event was recorded for."""
        with self._db.session() as s:
            return list(s.scalars(select(EventRow.symbol).where(EventRow.symbol.is_not(None))
                                  .distinct()))

    # -- open alerts ---------------------------------------------------------------------

    def open_alerts(self) -> list[OpenAlert]:
        with self._db.session() as s:
            return [OpenAlert.of(r) for r in s.scalars(select(OpenAlertRow))]

    def put_open_alert(self, alert: OpenAlert) -> None:
        with self._db.session() as s:
            row = s.get(OpenAlertRow, alert.key)
            if row is None:
                s.add(OpenAlertRow(key=alert.key, signature=alert.signature,
                                   first_at=alert.first_at, last_at=alert.last_at,
                                   count=alert.count))
            else:
                row.signature, row.first_at = alert.signature, alert.first_at
                row.last_at, row.count = alert.last_at, alert.count

    def delete_open_alert(self, key: str) -> None:
        with self._db.session() as s:
            row = s.get(OpenAlertRow, key)
            if row is not None:
                s.delete(row)

    # -- confirmations -------------------------------------------------------------------

    def create_confirmation(self, user_id: int, chat_id: int, kind: str,
                            payload: Mapping[str, Any], ttl_seconds: float = 120,
                            now: datetime | None = None) -> str:
        """A single-use token bound to `user_id`, valid for `ttl_seconds`."""
        now = self._now(now)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        with self._db.session() as s:
            s.add(ConfirmationRow(
                id=token, user_id=user_id, chat_id=chat_id, kind=kind, payload=dict(payload),
                state=ConfirmationState.PENDING.value, created_at=now,
                expires_at=now + timedelta(seconds=ttl_seconds)))
        return token

    def attach_message(self, token: str, message_id: int) -> bool:
        """Remember which message carries the buttons, to edit it when they expire."""
        with self._db.session() as s:
            result = s.execute(
                update(ConfirmationRow).where(ConfirmationRow.id == token)
                .values(message_id=message_id)
                .execution_options(synchronize_session=False))
            return bool(result.rowcount)

    def get_confirmation(self, token: str) -> Confirmation | None:
        with self._db.session() as s:
            row = s.get(ConfirmationRow, token)
            return None if row is None else Confirmation.of(row)

    def consume_confirmation(self, token: str, user_id: int,
                             now: datetime | None = None) -> ConfirmResult:
        """Use a confirmation once. The conditional UPDATE is the single point of truth:
        of two taps racing, exactly one changes the row and gets `ok`."""
        now = self._now(now)
        with self._db.session() as s:
            result = s.execute(
                update(ConfirmationRow)
                .where(ConfirmationRow.id == token,
                       ConfirmationRow.state == ConfirmationState.PENDING.value,
                       ConfirmationRow.user_id == user_id,
                       ConfirmationRow.expires_at > now)
                .values(state=ConfirmationState.CONFIRMED.value, used_at=now)
                .execution_options(synchronize_session=False))
            row = s.get(ConfirmationRow, token)
            if result.rowcount == 1 and row is not None:
                return ConfirmResult(True, kind=row.kind, payload=dict(row.payload))
            return self._refusal(s, row, user_id, now)

    def cancel_confirmation(self, token: str, user_id: int,
                            now: datetime | None = None) -> ConfirmResult:
        """Cancel a pending confirmation; allowed even after expiry (nothing runs)."""
        now = self._now(now)
        with self._db.session() as s:
            result = s.execute(
                update(ConfirmationRow)
                .where(ConfirmationRow.id == token,
                       ConfirmationRow.state == ConfirmationState.PENDING.value,
                       ConfirmationRow.user_id == user_id)
                .values(state=ConfirmationState.CANCELLED.value, used_at=now)
                .execution_options(synchronize_session=False))
            row = s.get(ConfirmationRow, token)
            if result.rowcount == 1 and row is not None:
                return ConfirmResult(True, kind=row.kind)
            return self._refusal(s, row, user_id, now)

    @staticmethod
    def _refusal(s: Session, row: ConfirmationRow | None, user_id: int,
                 now: datetime) -> ConfirmResult:
        if row is None:
            return ConfirmResult(False, ConfirmReason.UNKNOWN)
        # Another user learns nothing about the prompt's state or payload.
        if row.user_id != user_id:
            return ConfirmResult(False, ConfirmReason.WRONG_USER)
        if row.state == ConfirmationState.CANCELLED:
            return ConfirmResult(False, ConfirmReason.CANCELLED, kind=row.kind)
        if row.state == ConfirmationState.CONFIRMED:
            return ConfirmResult(False, ConfirmReason.ALREADY_USED, kind=row.kind)
        if row.state == ConfirmationState.PENDING:
            row.state = ConfirmationState.EXPIRED.value  # pending but out of time
        return ConfirmResult(False, ConfirmReason.EXPIRED, kind=row.kind)

    def expire_confirmations(self, now: datetime | None = None) -> list[Confirmation]:
        """Mark pending prompts past their time as expired and return them, so the bot
        can take the buttons off their messages."""
        now = self._now(now)
        with self._db.session() as s:
            rows = list(s.scalars(select(ConfirmationRow).where(
                ConfirmationRow.state == ConfirmationState.PENDING.value,
                ConfirmationRow.expires_at <= now)))
            for row in rows:
                row.state = ConfirmationState.EXPIRED.value
            s.flush()
            return [Confirmation.of(r) for r in rows]
