"""The durable queue of Telegram updates handed from the process that polls Telegram to
the process that holds the account they are for (a cluster on PostgreSQL: db/leases.py).

A row is written with a NOTIFY on `CHANNEL` in the same transaction (delivered when it
commits) and stays until a holder of its account takes it — the holder of the moment, so
an update for an account whose process died waits for the one that takes it over. Taking
deletes the row (`FOR UPDATE SKIP LOCKED`: two takers never take the same one): the
press is then handled once, and what it starts is journaled from its first step.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from db.session import Database, json_dumps

CHANNEL = "bot_handoff"


class Handoffs:
    def __init__(self, db: Database) -> None:
        self.db = db

    def put(self, account: str, update: dict[str, Any]) -> None:
        with self.db.session() as s:
            s.execute(text("INSERT INTO handoffs (account, payload, created_at) "
                           "VALUES (:account, CAST(:payload AS json), now())"),
                      {"account": account, "payload": json_dumps(update)})
            s.execute(text("SELECT pg_notify(:channel, :account)"),
                      {"channel": CHANNEL, "account": account})

    def take(self, accounts: list[str]) -> list[dict[str, Any]]:
        """The waiting updates of `accounts`, oldest first, now this process's to handle."""
        if not accounts:
            return []
        with self.db.session() as s:
            rows = s.execute(text(
                "DELETE FROM handoffs WHERE id IN (SELECT id FROM handoffs "
                "WHERE account = ANY(:accounts) ORDER BY id FOR UPDATE SKIP LOCKED) "
                "RETURNING id, payload"), {"accounts": accounts}).all()
        return [payload for _, payload in sorted(rows)]
