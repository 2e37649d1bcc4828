"""`/close`: parse, ask which side if both are held, confirm with buttons, then close
through the one close path and edit one message as it progresses.

Confirm buttons are single-use and bound to the user who asked (the database decides,
so a double tap executes once), expire, and are re-validated against a fresh read of
the position when pressed.
"""

from __future__ import annotations

from decimal import Decimal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import ContextTypes

from bot.domain import Position, Side
from bot.ops.close import Amount, CloseMethod, ClosePlan, CloseResult
from bot.ops.refusal import Refusal
from handlers.common import CANCEL, SIDE, Services, confirm_markup, edit, services, token_of
from handlers.messages import fmt_fee, fmt_plain, fmt_signed_usdt
from handlers.parse import CloseArgs, MaintainArgs, parse_amount, parse_close_args

USAGE = "usage_close"


async def close_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    try:
        args = parse_close_args(context.args or [], [a.name for a in s.config.accounts])
        positions = await s.ops.positions.find(args.symbol, args.account, args.side)
        if len(positions) > 1:
            args = CloseArgs(args.symbol, args.amount, positions[0].account, args.side)
            await ask_side(s, message, user.id, "close_side", args, {
                "account": args.account, "symbol": args.symbol, "amount": str(args.amount)})
            return
        text, markup = await _confirmation(s, user.id, message.chat_id, positions[0],
                                           args.amount)
    except Refusal as exc:
        await message.reply_text(s.refusal(exc, USAGE))
        return
    sent = await message.reply_text(text, reply_markup=markup)
    await s.store.attach_message(token_of(markup), sent.message_id)


async def ask_side(s: Services, message: Message, user_id: int, kind: str,
                   args: CloseArgs | MaintainArgs, payload: dict) -> None:
    """Both sides are held: buttons for the side, then `kind`'s side handler goes on."""
    token = await s.store.create_confirmation(
        user_id, message.chat_id, kind, payload,
        ttl_seconds=s.config.telegram.confirm_timeout_seconds)
    markup = InlineKeyboardMarkup([
        [InlineKeyboardButton(s.text(side), callback_data=f"{SIDE}:{token}:{side}")
         for side in ("long", "short")],
        [InlineKeyboardButton(s.text("button_cancel"), callback_data=f"{CANCEL}:{token}")]])
    sent = await message.reply_text(s.text("pick_side", symbol=args.symbol.upper(),
                                           account=args.account or "-"), reply_markup=markup)
    await s.store.attach_message(token, sent.message_id)


def method_text(s: Services, plan: ClosePlan) -> str:
    settings = s.config.rules.close
    if plan.method is CloseMethod.MARKET:
        return s.text("method_market", worst=fmt_plain(plan.orders[0].price or Decimal(0)),
                      slippage=fmt_plain(settings.slippage_pct))
    return s.text("method_batches", n=len(plan.orders),
                  price=fmt_plain(plan.orders[0].price or Decimal(0)),
                  interval=fmt_plain(settings.batch_interval_seconds),
                  minutes=settings.gtt_seconds // 60)


async def _confirmation(s: Services, user_id: int, chat_id: int, position: Position,
                        amount: Amount) -> tuple[str, InlineKeyboardMarkup]:
    plan = await s.ops.closing.preview(position, amount)
    token = await s.store.create_confirmation(user_id, chat_id, "close", {
        "account": position.account, "symbol": position.symbol, "side": position.side.value,
        "size": str(plan.size), "price": str(plan.estimated_price)},
        ttl_seconds=s.config.telegram.confirm_timeout_seconds)
    text = s.text("close_confirm", symbol=position.symbol, side=s.text(position.side.value),
                  account=position.account, size=s.size(plan.size, position.instrument),
                  held=s.size(position.size, position.instrument),
                  price=fmt_plain(plan.estimated_price), pnl=fmt_signed_usdt(plan.estimated_pnl),
                  method=method_text(s, plan))
    return text, confirm_markup(s, token)


async def side_chosen(s: Services, message: object, user_id: int, payload: dict,
                      side: Side) -> None:
    assert isinstance(message, Message)
    try:
        [position] = await s.ops.positions.find(payload["symbol"], payload["account"], side)
        text, markup = await _confirmation(s, user_id, message.chat_id, position,
                                           parse_amount(payload["amount"]))
    except Refusal as exc:
        await edit(message, s.refusal(exc, USAGE))
        return
    await edit(message, text, markup)
    await s.store.attach_message(token_of(markup), message.message_id)


async def execute(s: Services, message: object, user_id: int, payload: dict) -> None:
    assert isinstance(message, Message)
    side, size = Side(payload["side"]), Decimal(payload["size"])

    async def started(position: Position) -> None:
        await edit(message, s.text("close_running", size=s.size(size, position.instrument),
                                   **_names(s, position)))

    async def progress(result: CloseResult) -> None:
        p, plan = result.plan.position, result.plan
        if len(result.outcomes) < len(plan.orders):
            await edit(message, s.text(
                "close_progress", done=len(result.outcomes), orders=len(plan.orders),
                filled=s.size(result.filled_size, p.instrument),
                size=s.size(size, p.instrument), **_names(s, p)))

    try:
        position, result = await s.ops.closing.run_command(
            payload["account"], payload["symbol"], side, size, requested_by=user_id,
            chat_id=message.chat_id, message_id=message.message_id, plan=payload,
            started=started, progress=progress,
            confirmed_price=Decimal(payload["price"]) if payload.get("price") else None)
    except Refusal as exc:
        if exc.key == "estimate_moved":  # ask again, with today's estimate
            await _ask_again(s, message, user_id, payload, exc)
        else:
            await edit(message, s.refusal(exc))
        return
    await edit(message, close_report(s, position, result))


async def _ask_again(s: Services, message: Message, user_id: int, payload: dict,
                     moved: Refusal) -> None:
    try:
        [position] = await s.ops.positions.find(payload["symbol"], payload["account"],
                                                Side(payload["side"]))
        text, markup = await _confirmation(s, user_id, message.chat_id, position,
                                           Amount("contracts", Decimal(payload["size"])))
    except Refusal as exc:
        await edit(message, s.refusal(exc))
        return
    await edit(message, s.reason(moved) + "\n\n" + text, markup)
    await s.store.attach_message(token_of(markup), message.message_id)


def _names(s: Services, p: Position) -> dict[str, object]:
    return {"symbol": p.symbol, "side": s.text(p.side.value), "account": p.account}


def close_report(s: Services, position: Position, result: CloseResult) -> str:
    orders = "\n".join(
        s.text("order_line", venue_id=o.order.venue_id,
               state=s.text(f"state_{o.order.state.value}"),
               filled=s.size(o.filled_size, position.instrument), fills=len(o.fills))
        if o.order is not None else s.text("order_rejected", error=str(o.error))
        for o in result.outcomes)
    names = _names(s, position) | {"orders": orders}
    if result.filled_size == 0:
        error = "; ".join(result.errors) or s.text("nothing_filled")
        return s.text("close_failed", error=error, **names)
    key = "close_done" if result.unfilled_size == 0 else "close_partial"
    return s.text(key, filled=s.size(result.filled_size, position.instrument),
                  size=s.size(result.plan.size, position.instrument),
                  unfilled=s.size(result.unfilled_size, position.instrument),
                  price=fmt_plain(result.average_price or Decimal(0)),
                  fee=fmt_fee(result.fee), pnl=fmt_signed_usdt(result.realized_pnl), **names)
