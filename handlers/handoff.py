"""Button presses in a cluster: one process polls Telegram, but a press that starts
something for an account (Confirm, a side, the watcher's choice) must run in the process
holding that account's lease. The poller hands such an update over through the database
(db/handoffs.py); the holder, woken by LISTEN/NOTIFY (and looking every `POLL_SECONDS`
besides, should a notification be lost with a connection), runs it through its own
handlers exactly as if it had polled it, and answers the chat itself. A press for
accounts several processes hold (/correct's [Run now]) runs where one of them is held, and
each of the others gets a request to correct its own account (`correct_elsewhere`).

Commands are answered where they arrive: they read (any process may read any account),
and what they would do waits behind a button. The same connection hears of settings
another process changed (/pause, /resume, /lang: db.repo_control.SETTINGS_CHANNEL).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from telegram import Update
from telegram.ext import Application, ApplicationHandlerStop, ContextTypes

from bot.fence import LeaseLost
from db.handoffs import CHANNEL, Handoffs
from db.repo_control import SETTINGS_CHANNEL
from handlers.buttons import parse_data
from handlers.common import services

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
RECONNECT_SECONDS = 2.0


def accounts_in(payload: dict[str, Any]) -> list[str]:
    """The accounts a confirmation's payload acts on."""
    if isinstance(payload.get("account"), str):
        return [payload["account"]]
    listed = payload.get("accounts")
    return [a for a in listed if isinstance(a, str)] if isinstance(listed, list) else []


class Handover:
    def __init__(self, queue: Handoffs, dsn: str, holds: Callable[[str], bool],
                 held: Callable[[], list[str]],
                 settings_changed: Callable[[], Awaitable[None]],
                 correct: Callable[[str, int], Awaitable[object]]) -> None:
        """`holds(account)`: this process holds it; `held()`: every account it holds;
        `settings_changed()`: another process paused, resumed or chose a language;
        `correct(account, user)`: run an account's correction now, as /correct's
        [Run now] does."""
        self.queue, self.dsn, self.holds, self.held = queue, dsn, holds, held
        self.settings_changed, self.correct = settings_changed, correct

    async def correct_elsewhere(self, account: str, user_id: int) -> None:
        """/correct's [Run now] over accounts held by several processes: each holder runs
        its own (the details come as alerts, from there)."""
        await asyncio.to_thread(self.queue.put, account, {"correct": {
            "account": account, "user": user_id}})
        log.info("handoff_correct account=%s", account)

    async def route(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Before the handlers (after the gatekeeper): a press for an account held
        elsewhere goes to its holder, and nothing here handles it."""
        query = update.callback_query
        parsed = parse_data(query.data) if query is not None else None
        if parsed is None:
            return
        stored = await services(context).store.get_confirmation(parsed[1])
        accounts = accounts_in(stored.payload or {}) if stored is not None else []
        elsewhere = [a for a in accounts if not self.holds(a)]
        if not elsewhere or len(elsewhere) < len(accounts):
            return  # all here; or some here, and the handler hands the rest over
        await asyncio.to_thread(self.queue.put, elsewhere[0], update.to_dict())
        log.info("handoff account=%s update=%s", elsewhere[0], update.update_id)
        raise ApplicationHandlerStop

    async def serve(self, application: Application) -> None:  # type: ignore[type-arg]
        """Until cancelled: take the updates handed to this process's accounts and run
        each through the handlers, in the background (a Confirm runs as long as its
        action)."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        self.dsn, autocommit=True) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    await connection.execute(f"LISTEN {SETTINGS_CHANNEL}")
                    await self.settings_changed()  # what changed while no one listened
                    while True:
                        for payload in await asyncio.to_thread(self.queue.take, self.held()):
                            application.create_task(self._handle(application, payload))
                        async for note in connection.notifies(timeout=POLL_SECONDS,
                                                              stop_after=1):
                            if note.channel == SETTINGS_CHANNEL:
                                await self.settings_changed()
            except (psycopg.Error, OSError):
                log.exception("handoff_listen_failed")
                await asyncio.sleep(RECONNECT_SECONDS)

    async def _handle(self, application: Application,  # type: ignore[type-arg]
                      payload: dict[str, Any]) -> None:
        request = payload.get("correct")
        if request is None:  # a Telegram update, through the handlers
            await application.process_update(Update.de_json(payload, application.bot))
            return
        try:
            await self.correct(request["account"], request["user"])
        except LeaseLost:  # moved on again: its holder of the moment looks at it next run
            log.warning("handoff_correct_lease_lost account=%s", request["account"])
        except Exception:  # told as alerts where it failed; the process goes on
            log.exception("handoff_correct_failed account=%s", request["account"])
