"""/start, /help, /pause, /resume, /lang and the answer to anything unknown."""

from __future__ import annotations

import difflib

from telegram import Update
from telegram.ext import ContextTypes

from handlers import messages
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
    user = update.effective_user.id if update.effective_user else None
    changed = await services(context).ops.control.pause(user)
    await reply(update, context, "paused" if changed else "already_paused")


async def resume(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = update.effective_user.id if update.effective_user else None
    changed = await services(context).ops.control.resume(user)
    await reply(update, context, "resumed" if changed else "not_paused")


async def lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    args = context.args or []
    if len(args) != 1 or args[0].lower() not in messages.LANGUAGES:
        await reply(update, context, "usage", usage=s.text("lang_usage"))
        return
    await s.ops.control.set_language(args[0].lower())
    await reply(update, context, "lang_set")


async def unknown(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    said = (message.text or "") if message is not None else ""
    word = said.split(maxsplit=1)[0].lstrip("/").split("@", 1)[0].lower() if said else ""
    near = difflib.get_close_matches(word, messages.COMMANDS["en"], n=2, cutoff=0.6)
    if near:
        await reply(update, context, "unknown_command_near", text=said[:100],
                    near=" / ".join(f"/{n}" for n in near))
        return
    await reply(update, context, "unknown_command", text=said[:100])
