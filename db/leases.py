"""Leases in PostgreSQL: which process of a cluster acts for each account, and which one
polls Telegram (bot/cluster.py runs them).

A lease is a row (`leases`) with a holder, an expiry by the database's own clock and an
epoch that grows with every change of holder. A process renews what it holds and takes
free or expired rows up to its share (the accounts divided among the live members), with
`FOR UPDATE SKIP LOCKED`, so two processes never take the same row and never wait on each
other. A row rather than an advisory lock: an advisory lock lives and dies with one
connection (a dropped connection frees it without the process knowing, and a pool hides
which connection holds it), has no expiry a paused process can be measured against, and
no epoch to fence a write with; a row has all three, and `/status` can read it
(Store.cluster_members).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from bot.fence import LeaseLost
from db.models import ActionRow, ActionStepRow, FillRow, OrderRow, RuleStateRow
from db.repo_control import TELEGRAM_LEASE
from db.session import Database

TELEGRAM = TELEGRAM_LEASE
ACCOUNT = "account:"


def account_lease(account: str) -> str:
    return ACCOUNT + account


@dataclass(frozen=True, slots=True)
class Tick:
    """What one renewal found: the leases held now (name → epoch), those newly taken,
    and how many members are alive."""

    held: dict[str, int]
    taken: dict[str, int]
    members: int
    share: int


class Leases:
    """The lease rows, as seen by the member `me`; leases last `seconds`."""

    def __init__(self, db: Database, me: str, *, host: str, pid: int, seconds: float) -> None:
        if db.is_sqlite:
            raise ValueError("a cluster needs PostgreSQL: SQLite has no row locks to share")
        self.db, self.me, self.host, self.pid, self.seconds = db, me, host, pid, seconds

    def _run(self, s: Session, sql: str, **params: Any) -> Any:
        return s.execute(text(sql), {"me": self.me, "seconds": self.seconds, **params})

    def ensure(self, names: Iterable[str]) -> None:
        """A row for every lease there is to hold (none taken by this)."""
        with self.db.session() as s:
            for name in names:
                self._run(s, "INSERT INTO leases (name, holder, epoch, expires_at) "
                             "VALUES (:name, NULL, 0, now()) ON CONFLICT (name) DO NOTHING",
                          name=name)

    def tick(self, accounts: list[str], *, telegram: bool, not_now: Iterable[str] = ()
             ) -> Tick:
        """One renewal, one transaction: this member is alive; what it holds is renewed
        (what expired meanwhile is not: another may have it already); then free or
        expired account leases are taken up to this member's share (but `not_now`'s),
        and Telegram's when `telegram` and no one holds it."""
        with self.db.session() as s:
            self._run(s, "INSERT INTO cluster_members (holder, host, pid, started_at, "
                         "expires_at) VALUES (:me, :host, :pid, now(), now() + "
                         "make_interval(secs => :seconds)) ON CONFLICT (holder) DO UPDATE "
                         "SET expires_at = EXCLUDED.expires_at",
                      host=self.host, pid=self.pid)
            held = dict(self._run(s, "UPDATE leases SET expires_at = now() + "
                                     "make_interval(secs => :seconds) WHERE holder = :me "
                                     "AND expires_at > now() RETURNING name, epoch").all())
            members = self._run(s, "SELECT count(*) FROM cluster_members "
                                   "WHERE expires_at > now()").scalar_one()
            share = math.ceil(len(accounts) / max(members, 1))
            mine = sum(1 for name in held if name.startswith(ACCOUNT))
            skipped = set(not_now)
            wanted = [account_lease(a) for a in accounts if a not in skipped]
            taken = self._take(s, wanted, share - mine) if share > mine else {}
            if telegram and TELEGRAM not in held:
                taken |= self._take(s, [TELEGRAM], 1)
            return Tick(held | taken, taken, members, share)

    def _take(self, s: Session, names: list[str], count: int) -> dict[str, int]:
        return dict(self._run(
            s, "UPDATE leases SET holder = :me, epoch = epoch + 1, expires_at = now() + "
               "make_interval(secs => :seconds) WHERE name IN (SELECT name FROM leases "
               "WHERE name = ANY(:names) AND (holder IS NULL OR expires_at <= now()) "
               "ORDER BY name LIMIT :count FOR UPDATE SKIP LOCKED) RETURNING name, epoch",
            names=names, count=count).all())

    def release(self, names: Iterable[str]) -> None:
        """Give leases up at once (for another member to take), if still ours."""
        with self.db.session() as s:
            self._run(s, "UPDATE leases SET holder = NULL, expires_at = now() "
                         "WHERE holder = :me AND name = ANY(:names)", names=list(names))

    def leave(self) -> None:
        """Stopping: every lease given up and this member gone, so the others take over
        at once instead of after the leases expire."""
        with self.db.session() as s:
            self._run(s, "UPDATE leases SET holder = NULL, expires_at = now() "
                         "WHERE holder = :me")
            self._run(s, "DELETE FROM cluster_members WHERE holder = :me")

    def holds(self, s: Session, name: str, epoch: int) -> bool:
        """Whether this member holds `name` at `epoch` now; the row is share-locked to
        the end of `s`, so no one takes it over before `s` commits."""
        return self._run(s, "SELECT 1 FROM leases WHERE name = :name AND holder = :me AND "
                            "epoch = :epoch AND expires_at > now() FOR SHARE",
                         name=name, epoch=epoch).first() is not None


def fence_writes(db: Database, epoch_of: Callable[[str], int | None], leases: Leases) -> None:
    """Every transaction of `db` that writes an account's journal, orders, fills or rule
    state checks, before it commits, that this member holds that account's lease at the
    epoch it took it with (`epoch_of`; None: not held); else it rolls back on LeaseLost."""

    def _fenced(session: Session, _context: Any, _instances: Any) -> None:
        accounts = set()
        for row in [*session.new, *session.dirty, *session.deleted]:
            if isinstance(row, ActionRow | OrderRow | FillRow | RuleStateRow):
                accounts.add(row.account)
            elif isinstance(row, ActionStepRow):
                action = session.get(ActionRow, row.action_id)
                if action is not None:
                    accounts.add(action.account)
        for account in accounts:
            epoch = epoch_of(account)
            if epoch is None or not leases.holds(session, account_lease(account), epoch):
                raise LeaseLost(account)

    for sessions in db.session_factories:
        event.listen(sessions, "before_flush", _fenced)
