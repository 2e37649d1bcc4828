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
        await s.ops.control.refused(uid, user.username if user else None, _said(update))
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
            await s.ops.control.dropped_stale(_said(update), int(age))
            await reply(update, context, "stale_update", text=_said(update), age=int(age))
            raise ApplicationHandlerStop


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    error = context.error
    log.error("handler_failed update=%s", update, exc_info=error)
    s = services(context)
    if error is not None:
        await s.ops.control.front_failed(error)
    if isinstance(update, Update) and update.effective_message is not None:
        await reply(update, context, "internal_error", kind=type(error).__name__)
