"""Runs before every handler: only configured users get through, and commands sent while
the bot was down are not executed late. Also the error handler: brief to the user,
detailed in the log and the events table."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop, ContextTypes

from handlers.common import reply, services

log = logging.getLogger(__name__)


def _said(update: Update) -> str:
    if update.callback_query is not None:
        return f"[button] {update.callback_query.data}"
    message = update.effective_message
    return (message.text or "") if message is not None else ""


async def gatekeeper(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not isinstance(update, Update):
        return
    s = services(context)
    user = update.effective_user
    if user is None or user.id not in s.config.telegram.allowed_user_ids:
        uid = user.id if user is not None else None
        s.store.record_event("unauthorized", f"refused user {uid}: {_said(update)[:200]}",
                             severity="warning", data={"user_id": uid,
                                                       "username": user.username if user else None})
        log.warning("unauthorized user_id=%s", uid)
        if update.callback_query is not None:
            await update.callback_query.answer(s.text("unauthorized"), show_alert=True)
        else:
            await reply(update, context, "unauthorized")
        raise ApplicationHandlerStop

    message = update.message
    max_age = s.config.telegram.drop_updates_older_than_seconds
    if message is not None and message.date is not None and max_age:
        age = (s.clock() - message.date).total_seconds()
        if age > max_age:
            s.store.record_event("stale_update_dropped", f"not executed: {_said(update)[:200]}",
                                 severity="warning", data={"age_seconds": int(age)})
            await reply(update, context, "stale_update", text=_said(update), age=int(age))
            raise ApplicationHandlerStop


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    error = context.error
    log.error("handler_failed update=%s", update, exc_info=error)
    s = services(context)
    s.store.record_event("handler_failed", f"{type(error).__name__}: {error}"[:500],
                         severity="error")
    if isinstance(update, Update) and update.effective_message is not None:
        await reply(update, context, "internal_error", kind=type(error).__name__)
