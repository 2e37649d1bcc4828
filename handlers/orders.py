"""`/orders [account]`: the bot's resting orders (a close's limit batches, a grid's levels),
each with a [Cancel n] button; a press asks once more ([Confirm]/[Cancel]) before the
order is cancelled at the venue. Every button works once, for the user who asked."""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import ContextTypes

from bot.domain import Order
from bot.ops.orders import RestingOrder
from bot.ops.refusal import Refusal
from handlers.common import CONFIRM, Services, confirm_markup, edit, reply, services
from handlers.messages import fmt_plain

USAGE = "usage_orders"
WITH_BUTTONS = 24  # Telegram shows at most 100 buttons; a list longer than this is narrowed
PER_ROW = 4


def _what(s: Services, r: RestingOrder) -> str:
    if r.grid is not None:
        return s.text("orders_what_grid", grid=r.grid, level=r.level or "?")
    if r.action_id is not None:
        try:
            kind = s.text(f"kind_{r.action_kind}")
        except KeyError:
            kind = str(r.action_kind)
        return s.text("orders_what_action", kind=kind, id=r.action_id)
    return s.text("orders_what_none")


def _order_names(s: Services, o: Order) -> dict[str, object]:
    return {"symbol": o.symbol, "side": s.text(f"direction_{o.side.value}"),
            "size": fmt_plain(o.size), "price": fmt_plain(o.price) if o.price else "-",
            "client_id": o.client_id}


def list_text(s: Services, resting: list[RestingOrder]) -> str:
    lines = [s.text("orders_title", n=len(resting))]
    for n, r in enumerate(resting, 1):
        o = r.order
        lines.append(s.text("orders_line", n=n, account=r.account,
                            position=s.text(o.position_side.value),
                            filled=fmt_plain(o.filled_size), what=_what(s, r),
                            venue_id=o.venue_id or "-", **_order_names(s, o)))
    if len(resting) > WITH_BUTTONS:
        lines.append(s.text("orders_more", n=len(resting) - WITH_BUTTONS))
    return "\n".join(lines)


async def orders_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    args = context.args or []
    if len(args) > 1:
        await reply(update, context, "usage", usage=s.text(USAGE))
        return
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    try:
        resting = await s.ops.orders.resting(args[0] if args else None)
    except Refusal as exc:
        await message.reply_text(s.refusal(exc, USAGE))
        return
    if not resting:
        await reply(update, context, "orders_none")
        return
    buttons = []
    for n, r in enumerate(resting[:WITH_BUTTONS], 1):
        token = await s.store.create_confirmation(
            user.id, message.chat_id, "order_pick",
            {"account": r.account, "client_id": r.order.client_id},
            ttl_seconds=s.config.telegram.confirm_timeout_seconds)
        buttons.append(InlineKeyboardButton(s.text("button_cancel_order", n=n),
                                            callback_data=f"{CONFIRM}:{token}"))
    rows = [buttons[i:i + PER_ROW] for i in range(0, len(buttons), PER_ROW)]
    await message.reply_text(list_text(s, resting), reply_markup=InlineKeyboardMarkup(rows))


async def ask_cancel(s: Services, message: object, user_id: int,
                     payload: dict[str, Any]) -> None:
    """[Cancel n] pressed: the order as the journal has it now, with [Confirm]/[Cancel]."""
    if not isinstance(message, Message):
        return
    account, client_id = payload["account"], payload["client_id"]
    record = await s.store.get_order(account, client_id)
    if record is None or record.order.state.is_final:
        await message.reply_text(s.reason(Refusal("order_not_resting", client_id=client_id)))
        return
    token = await s.store.create_confirmation(
        user_id, message.chat_id, "order_cancel", payload,
        ttl_seconds=s.config.telegram.confirm_timeout_seconds)
    sent = await message.reply_text(
        s.text("order_cancel_confirm", account=account, **_order_names(s, record.order)),
        reply_markup=confirm_markup(s, token))
    await s.store.attach_message(token, sent.message_id)


async def cancel_confirmed(s: Services, message: object, user_id: int,
                           payload: dict[str, Any]) -> None:
    try:
        order = await s.ops.orders.cancel(payload["account"], payload["client_id"], user_id)
    except Refusal as exc:
        await edit(message, s.reason(exc))
        return
    await edit(message, s.text("order_cancelled", client_id=order.client_id,
                               state=order.state.value, filled=fmt_plain(order.filled_size),
                               size=fmt_plain(order.size)))
