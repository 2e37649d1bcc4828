"""`/close`: parse, ask which side if both are held, confirm with buttons, then close
through the one execution path and edit one message as it progresses.

Confirm buttons are single-use and bound to the user who asked (the database decides,
so a double tap executes once), expire, and are re-validated against a fresh read of
the position when pressed.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import ContextTypes

from bot.busy import PositionBusy
from bot.close_command import (
    Amount,
    BadCommand,
    CloseArgs,
    MaintainArgs,
    choose_positions,
    close_target,
    parse_amount,
    parse_close_args,
    resolve_instrument,
)
from bot.closing import CloseMethod, CloseResult, execute_close, plan_close
from bot.domain import Position, Side
from bot.messages import fmt_fee, fmt_plain, fmt_signed_usdt
from bot.venues.base import VenueError
from handlers.common import (
    CANCEL,
    SIDE,
    Services,
    confirm_markup,
    edit,
    reason,
    services,
    token_of,
)

log = logging.getLogger(__name__)



def _bad(s: Services, exc: BadCommand) -> str:
    return s.text("bad_argument", reason=reason(s, exc), usage=s.text("usage_close"))


async def close_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    try:
        args = parse_close_args(context.args or [], list(s.venues))
        positions = await find_positions(s, args)
        if len(positions) > 1:
            args = CloseArgs(args.symbol, args.amount, positions[0].account, args.side)
            await ask_side(s, message, user.id, "close_side", args, {
                "account": args.account, "symbol": args.symbol, "amount": str(args.amount)})
            return
        text, markup = await _confirmation(s, user.id, message.chat_id, positions[0],
                                           args.amount)
    except BadCommand as exc:
        await message.reply_text(_bad(s, exc))
        return
    except VenueError as exc:
        await message.reply_text(s.text("venue_read_failed", error=str(exc)))
        return
    sent = await message.reply_text(text, reply_markup=markup)
    s.store.attach_message(token_of(markup), sent.message_id)


async def find_positions(s: Services, args: CloseArgs | MaintainArgs) -> list[Position]:
    accounts = [args.account] if args.account else list(s.venues)
    held, instruments, first_error = {}, {}, None
    for account in accounts:
        venue = s.venues[account]
        try:
            inst = resolve_instrument(args.symbol, await venue.instruments())
        except BadCommand as exc:
            first_error = first_error or exc
            continue
        instruments[account] = inst
        held[account] = [p for p in await venue.positions() if p.symbol == inst.symbol]
    if not instruments:
        assert first_error is not None
        raise first_error
    return choose_positions(args, held, instruments)


async def ask_side(s: Services, message: Message, user_id: int, kind: str,
                   args: CloseArgs | MaintainArgs, payload: dict) -> None:
    """Both sides are held: buttons for the side, then `kind`'s side handler goes on."""
    token = s.store.create_confirmation(user_id, message.chat_id, kind, payload,
                                       ttl_seconds=s.config.telegram.confirm_timeout_seconds)
    markup = InlineKeyboardMarkup([
        [InlineKeyboardButton(s.text(side), callback_data=f"{SIDE}:{token}:{side}")
         for side in ("long", "short")],
        [InlineKeyboardButton(s.text("button_cancel"), callback_data=f"{CANCEL}:{token}")]])
    sent = await message.reply_text(s.text("pick_side", symbol=args.symbol.upper(),
                                           account=args.account or "-"), reply_markup=markup)
    s.store.attach_message(token, sent.message_id)


async def _confirmation(s: Services, user_id: int, chat_id: int, position: Position,
                        amount: Amount) -> tuple[str, InlineKeyboardMarkup]:
    settings = s.config.rules.close
    target = close_target(position, amount)
    venue = s.venues[position.account]
    book = await venue.order_book(position.symbol, settings.book_levels)
    plan = plan_close(position, target.size, book, settings, s.clock())
    if plan.method is CloseMethod.MARKET:
        method = s.text("method_market", worst=fmt_plain(plan.orders[0].price or Decimal(0)),
                        slippage=fmt_plain(settings.slippage_pct))
    else:
        method = s.text("method_batches", n=len(plan.orders),
                        price=fmt_plain(plan.orders[0].price or Decimal(0)),
                        interval=fmt_plain(settings.batch_interval_seconds),
                        minutes=settings.gtt_seconds // 60)
    token = s.store.create_confirmation(user_id, chat_id, "close", {
        "account": position.account, "symbol": position.symbol, "side": position.side.value,
        "size": str(target.size)}, ttl_seconds=s.config.telegram.confirm_timeout_seconds)
    text = s.text("close_confirm", symbol=position.symbol, side=s.text(position.side.value),
                  account=position.account, size=s.size(target.size, position.instrument),
                  held=s.size(position.size, position.instrument),
                  price=fmt_plain(plan.estimated_price), pnl=fmt_signed_usdt(plan.estimated_pnl),
                  method=method)
    return text, confirm_markup(s, token)


async def side_chosen(s: Services, message: object, user_id: int, payload: dict,
                      side: Side) -> None:
    assert isinstance(message, Message)
    args = CloseArgs(payload["symbol"], parse_amount(payload["amount"]), payload["account"], side)
    try:
        [position] = await find_positions(s, args)
        text, markup = await _confirmation(s, user_id, message.chat_id, position, args.amount)
    except BadCommand as exc:
        await edit(message, _bad(s, exc))
        return
    await edit(message, text, markup)
    s.store.attach_message(token_of(markup), message.message_id)


async def execute(s: Services, message: object, user_id: int, payload: dict) -> None:
    assert isinstance(message, Message)
    account, symbol, side = payload["account"], payload["symbol"], Side(payload["side"])
    size = Decimal(payload["size"])
    venue = s.venues[account]
    # Re-validate against a fresh read: the position may have moved since the question.
    position = next((p for p in await venue.positions()
                     if p.symbol == symbol and p.side is side), None)
    if position is None or size > position.size:
        reason = (s.text("changed_gone", symbol=symbol, side=s.text(side.value),
                         account=account) if position is None else
                  s.text("changed_smaller", held=s.size(position.size, position.instrument)))
        await edit(message, s.text("position_changed", reason=reason))
        return
    names = {"symbol": symbol, "side": s.text(side.value), "account": account}
    settings = s.config.rules.close
    # Read before the action exists: a failed read leaves nothing half-started behind.
    book = await venue.order_book(symbol, settings.book_levels)
    plan = plan_close(position, size, book, settings, s.clock())
    action = s.store.create_action("close", account, symbol, side.value, "command", payload,
                                   requested_by=user_id, chat_id=message.chat_id)
    s.store.update_action(action, state="running", message_id=message.message_id)
    await edit(message, s.text("close_running", size=s.size(size, position.instrument), **names))

    async def progress(result: CloseResult) -> None:
        if len(result.outcomes) < len(plan.orders):
            await edit(message, s.text(
                "close_progress", done=len(result.outcomes), orders=len(plan.orders),
                filled=s.size(result.filled_size, position.instrument),
                size=s.size(size, position.instrument), **names))

    try:
        with s.busy.hold((account, symbol, side.value)):
            result = await execute_close(s.executor, venue, action, plan, settings, progress)
    except PositionBusy:
        s.store.update_action(action, state="failed", error="position busy")
        await edit(message, s.text("position_busy", **names))
        return
    state = ("done" if result.unfilled_size == 0 else
             "partial" if result.filled_size > 0 else "failed")
    s.store.update_action(action, state=state, result={
        "filled": str(result.filled_size), "fee": str(result.fee),
        "pnl": str(result.realized_pnl), "errors": result.errors})
    s.store.record_event(f"close_{state}", f"{symbol} {side} {result.filled_size}/{size}",
                         account=account, symbol=symbol, side=side.value, action_id=action)
    await edit(message, close_report(s, position, result))


def close_report(s: Services, position: Position, result: CloseResult) -> str:
    orders = "\n".join(
        s.text("order_line", venue_id=o.order.venue_id,
               state=s.text(f"state_{o.order.state.value}"),
               filled=s.size(o.filled_size, position.instrument), fills=len(o.fills))
        if o.order is not None else s.text("order_rejected", error=str(o.error))
        for o in result.outcomes)
    names = {"symbol": position.symbol, "side": s.text(position.side.value),
             "account": position.account, "orders": orders}
    if result.filled_size == 0:
        error = "; ".join(result.errors) or s.text("nothing_filled")
        return s.text("close_failed", error=error, **names)
    key = "close_done" if result.unfilled_size == 0 else "close_partial"
    return s.text(key, filled=s.size(result.filled_size, position.instrument),
                  size=s.size(result.plan.size, position.instrument),
                  unfilled=s.size(result.unfilled_size, position.instrument),
                  price=fmt_plain(result.average_price or Decimal(0)),
                  fee=fmt_fee(result.fee), pnl=fmt_signed_usdt(result.realized_pnl), **names)
