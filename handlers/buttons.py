"""Every confirmation button press: the database decides whether it counts (single use,
the user who asked, not expired), then the confirmation's kind decides what runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import ContextTypes

from bot.domain import Side
from handlers import close, maintain, tp, watcher
from handlers.common import CANCEL, SIDE, WATCH, Services, edit, services

Confirmed = Callable[[Services, object, int, dict[str, Any]], Awaitable[None]]

Sided = Callable[[Services, object, int, dict[str, Any], Side], Awaitable[None]]

ON_CONFIRM: dict[str, Confirmed] = {
    "close": close.execute,
    "tp_reset": tp.reset_confirmed,
    "maintain": maintain.execute,
    "maintain_retry": maintain.retry_confirmed,
}
ON_SIDE: dict[str, Sided] = {
    "close_side": close.side_chosen,
    "maintain_side": maintain.side_chosen,
}


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    query, user = update.callback_query, update.effective_user
    assert query is not None and user is not None
    kind, token, *rest = str(query.data).split(":")
    if kind == CANCEL:
        result = s.store.cancel_confirmation(token, user.id)
    else:
        result = s.store.consume_confirmation(token, user.id)
    if not result.ok:
        await query.answer(s.text(f"confirm_{result.reason}"), show_alert=True)
        if result.reason == "expired":
            await edit(query.message, s.text("confirm_expired"))
        return
    await query.answer()
    payload = result.payload or {}
    if kind == CANCEL:
        await edit(query.message, s.text("confirm_cancelled"))
    elif kind == WATCH:
        await watcher.watcher_choice(s, query.message, user.id, payload, rest[0])
    elif kind == SIDE and result.kind in ON_SIDE:
        await ON_SIDE[result.kind](s, query.message, user.id, payload, Side(rest[0]))
    elif result.kind in ON_CONFIRM:
        await ON_CONFIRM[result.kind](s, query.message, user.id, payload)
