"""/start, /help, /pause, /resume, /lang and the answer to anything unknown."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import messages
from handlers.common import reply, services


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    if s.config.is_demo:
        mode = s.text("mode_demo")
    else:
        accounts = ", ".join(f"{a.name} ({a.venue})" for a in s.config.accounts)
        mode = s.text("mode_live", accounts=accounts)
    await reply(update, context, "start", mode=mode)


async def help_(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    lines = [s.text("help_title")]
    lines += [f"/{cmd} — {desc}" for cmd, desc in messages.COMMANDS[s.lang()].items()]
    await update.effective_message.reply_text("\n".join(lines))  # type: ignore[union-attr]


async def pause(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    if s.pause.paused:
        await reply(update, context, "already_paused")
        return
    s.pause.set(True)
    s.store.record_event("paused", f"paused by user {update.effective_user.id}",  # type: ignore[union-attr]
                         severity="warning")
    await reply(update, context, "paused")


async def resume(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    if not s.pause.paused:
        await reply(update, context, "not_paused")
        return
    s.pause.set(False)
    s.store.record_event("resumed", f"resumed by user {update.effective_user.id}")  # type: ignore[union-attr]
    await reply(update, context, "resumed")


async def lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    args = context.args or []
    if len(args) != 1 or args[0].lower() not in messages.LANGUAGES:
        await reply(update, context, "usage", usage=s.text("lang_usage"))
        return
    s.store.set_language(args[0].lower())
    await reply(update, context, "lang_set")


async def unknown(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    said = (message.text or "") if message is not None else ""
    await reply(update, context, "unknown_command", text=said[:100])
