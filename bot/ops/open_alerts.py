"""Alerts that never storm: what the user was told and still holds, kept in the database.

A rule whose close keeps failing for the same reason, a job failing every run, an
observe-mode decision that stays the same: each is told once, when it starts (or changes
reason), and once more when it is seen to clear (the close goes through, the job runs
cleanly again). The memory survives a restart, so a restart does not tell it again. One
that has not been seen for `STALE_AFTER` went away unnoticed (the position was closed by
hand, the rule switched off): seen again, it is told again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from db.aio import AsyncStore
from db.records import OpenAlert

STALE_AFTER = timedelta(hours=1)


class OpenAlerts:
    def __init__(self, store: AsyncStore, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock
        # A mirror, read as the bot is built: runs read it often.
        self._open = {a.key: a for a in store.sync.open_alerts()}

    async def report(self, key: str, signature: str) -> bool:
        """It holds this run. True when the user should be told: it is new, its reason
        (`signature`) changed, or it had gone unseen for `STALE_AFTER`."""
        now = self._clock()
        known = self._open.get(key)
        if known is not None and known.signature == signature and \
                now - known.last_at < STALE_AFTER:
            alert = OpenAlert(key, signature, known.first_at, now, known.count + 1)
            tell = False
        else:
            alert, tell = OpenAlert(key, signature, now, now, 1), True
        self._open[key] = alert  # before the write: a report meanwhile sees it
        await self._store.put_open_alert(alert)
        return tell

    async def clear(self, key: str) -> OpenAlert | None:
        """It holds no more; returns what was open (to say it is resolved), if anything."""
        alert = self._open.pop(key, None)
        if alert is not None:
            await self._store.delete_open_alert(key)
        return alert

    def is_open(self, key: str) -> bool:
        return key in self._open

    def keys(self, prefix: str) -> list[str]:
        return [k for k in self._open if k.startswith(prefix)]
