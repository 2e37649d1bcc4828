"""Every button press: the callback data is parsed strictly and its kind checked against
the stored confirmation's before anything is used up; then the database decides whether
the press counts (single use, the user who asked, not expired), and the confirmation's
kind decides what runs."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import ContextTypes

from bot.domain import Side
from handlers import close, correct, maintain, orders, tp, watcher
from handlers.common import CANCEL, CONFIRM, SIDE, WATCH, Services, edit, services

Confirmed = Callable[[Services, object, int, dict[str, Any]], Awaitable[None]]

Sided = Callable[[Services, object, int, dict[str, Any], Side], Awaitable[None]]

ON_CONFIRM: dict[str, Confirmed] = {
    "close": close.execute,
    "tp_reset": tp.reset_confirmed,
    "maintain": maintain.execute,
    "maintain_retry": maintain.retry_confirmed,
    "correct": correct.run_confirmed,
    "order_pick": orders.ask_cancel,
    "order_cancel": orders.cancel_confirmed,
}
ON_SIDE: dict[str, Sided] = {
    "close_side": close.side_chosen,
    "maintain_side": maintain.side_chosen,
}
WATCHER = "watcher"  # the confirmation kind of the watcher's alert buttons

# Each button prefix: the choices that follow its token (none: no third part), and the
# confirmation kinds it answers (None: any, as Cancel ends whatever was asked).
BUTTONS: dict[str, tuple[frozenset[str], frozenset[str] | None]] = {
    CONFIRM: (frozenset(), frozenset(ON_CONFIRM)),
    CANCEL: (frozenset(), None),
    SIDE: (frozenset(s.value for s in Side), frozenset(ON_SIDE)),
    WATCH: (frozenset({"maintain", "supermaintain", "skip"}), frozenset({WATCHER})),
}
TOKEN = re.compile(r"[A-Za-z0-9_-]{1,43}")  # secrets.token_urlsafe's alphabet
MAX_DATA = 64  # bytes: Telegram's limit on callback data


def parse_data(data: object) -> tuple[str, str, str | None] | None:
    """(prefix, token, choice or None) of callback data the bot could have made: exactly
    `<prefix>:<token>`, or `<prefix>:<token>:<choice>` with one of the prefix's choices;
    None for anything else."""
    if not isinstance(data, str) or len(data.encode()) > MAX_DATA:
        return None
    prefix, *parts = data.split(":")
    if prefix not in BUTTONS:
        return None
    choices = BUTTONS[prefix][0]
    if len(parts) != (2 if choices else 1) or not TOKEN.fullmatch(parts[0]):
        return None
    choice = parts[1] if choices else None
    if choices and choice not in choices:
        return None
    return prefix, parts[0], choice


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    query, user = update.callback_query, update.effective_user
    assert query is not None and user is not None
    parsed = parse_data(query.data)
    if parsed is None:
        await query.answer(s.text("button_invalid"), show_alert=True)
        return
    prefix, token, choice = parsed
    # The kind is read without using the token up: the owner's live token under another
    # button (a side button for a close, a confirm for the watcher) is refused untouched.
    stored, kinds = await s.store.get_confirmation(token), BUTTONS[prefix][1]
    if stored is not None and kinds is not None and stored.kind not in kinds:
        await query.answer(s.text("button_invalid"), show_alert=True)
        return
    if prefix == CANCEL:
        result = await s.store.cancel_confirmation(token, user.id)
    else:
        result = await s.store.consume_confirmation(token, user.id)
    if not result.ok:
        await query.answer(s.text(f"confirm_{result.reason}"), show_alert=True)
        if result.reason == "expired":
            await edit(query.message, s.text("confirm_expired"))
        return
    await query.answer()
    payload, kind = result.payload or {}, str(result.kind)
    if prefix == CANCEL:
        await edit(query.message, s.text("confirm_cancelled"))
    elif prefix == WATCH:
        await watcher.watcher_choice(s, query.message, user.id, payload, str(choice))
    elif prefix == SIDE:
        await ON_SIDE[kind](s, query.message, user.id, payload, Side(str(choice)))
    else:
        await ON_CONFIRM[kind](s, query.message, user.id, payload)
