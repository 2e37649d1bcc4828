"""The gate, both ways. In: runs before every handler; only what is said to the bot is
looked at, only configured users get through, only a new message can be a command (an
edit is told it is not), and commands sent while the bot was down are not executed late.
Also the error handler: brief to the user, detailed in the log and the events table."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from telegram import Update
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.fence import LeaseLost
from handlers.common import Services, reply, services
from handlers.telegram_limits import fit

log = logging.getLogger(__name__)

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]

ECHO = 100  # characters of the user's own text a notice repeats
def _said(update: Update) -> str:
    if update.callback_query is not None:
        return f"[button] {update.callback_query.data}"
    message = update.effective_message
    return (message.text or "") if message is not None else ""


def quiet_strangers(s: Services) -> Callable[[Sequence[Any]], list[Any]]:
    """Before python-telegram-bot reads a batch of raw updates: one from a stranger who is
    not to be answered now is dropped unread (parsing and dispatching thousands of them
    would keep the owner's command waiting behind a flood). The batch's last update is
    kept, blanked to its id if need be, so the next poll goes on after it; a blank update
    is nothing said to the bot, and the gate drops it."""
    allowed = s.config.telegram.allowed_user_ids

    def quiet(raw: Any) -> bool:
        for kind in ("message", "edited_message", "callback_query"):
            said = raw.get(kind) if isinstance(raw, dict) else None
            if isinstance(said, dict) and isinstance(said.get("from"), dict):
                user_id = said["from"].get("id")
                return isinstance(user_id, int) and user_id not in allowed and \
                    s.ops.control.turned_away_quietly(user_id)
        return False

    def read(batch: Sequence[Any]) -> list[Any]:
        kept = [raw for raw in batch if not quiet(raw)]
        if batch and (not kept or kept[-1] is not batch[-1]):
            kept.append({"update_id": batch[-1]["update_id"]})
        return kept

    return read


async def gatekeeper(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not isinstance(update, Update):
        return
    if update.message is None and update.edited_message is None and update.callback_query is None:
        # Not said to the bot: a post in a channel or in a business chat the bot serves, a
        # reaction, a member change. Nothing runs and nobody is answered.
        raise ApplicationHandlerStop
    s = services(context)
    user = update.effective_user
    if user is None or user.id not in s.config.telegram.allowed_user_ids:
        uid = user.id if user is not None else None
        if not await s.ops.control.refused(uid, user.username if user else None, _said(update)):
            raise ApplicationHandlerStop  # told already, or a flood: silence
        if update.callback_query is not None:
            await update.callback_query.answer(s.text("unauthorized"), show_alert=True)
        else:
            await reply(update, context, "unauthorized")
        raise ApplicationHandlerStop

    # A message, new or edited, is as old as its last writing. (A button press is not
    # dated: its message is the bot's own, as old as the prompt.) What counts is how long
    # before this start it was written: one sent while the bot runs is never "offline",
    # however long it waited in line.
    message = update.message or update.edited_message
    max_age = s.config.telegram.drop_updates_older_than_seconds
    if message is not None and max_age:
        written = message.edit_date or message.date
        age = (s.clock() - written).total_seconds()
        if (s.started_at - written).total_seconds() > max_age:
            await s.ops.control.dropped_stale(_said(update), int(age))
            await reply(update, context, "stale_update", text=fit(_said(update), ECHO),
                        age=int(age))
            raise ApplicationHandlerStop
    if update.edited_message is not None:
        # Only a new message is a command: an edit is told so (sending again is one tap).
        await reply(update, context, "edit_not_executed")
        raise ApplicationHandlerStop


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    error = context.error
    log.error("handler_failed update=%s", update, exc_info=error)
    s = services(context)
    if error is not None:
        await s.ops.control.front_failed(error)
    if isinstance(update, Update) and update.effective_message is not None:
        await reply(update, context, "internal_error", kind=type(error).__name__)


def fenced(callback: Handler) -> Handler:
    """`callback`, telling the user instead of failing when what it started is for an
    account another process of a cluster took over meanwhile (bot/fence.py): LeaseLost
    passes every `except Exception`, and PTB's update loop must not see it."""

    async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await callback(update, context)
        except LeaseLost as lost:
            log.warning("handler_lease_lost account=%s update=%s", lost.account,
                        update.update_id)
            if update.effective_message is not None:
                await reply(update, context, "lease_moved", account=lost.account)

    return guarded
