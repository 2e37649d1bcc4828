"""`/history [n] [account] [SYMBOL]` and `/pnl [today|7d|30d|all]`: what the bot did, with
the order ids an exchange's support asks for, and what it earned, from the recorded fills."""

from __future__ import annotations

from decimal import Decimal

from telegram import Update
from telegram.ext import ContextTypes

from bot.domain import Order
from bot.ops.history import PastAction, PnlReport, Totals
from bot.ops.refusal import Refusal
from handlers.common import Services, reply, reply_long, services
from handlers.messages import fmt_fee, fmt_plain, fmt_signed_usdt

ORDERS_SHOWN = 4  # per action: a grid's journal holds every level it ever placed


def _order_line(s: Services, o: Order) -> str:
    return s.text("history_order", venue_id=o.venue_id or "-", client_id=o.client_id,
                  side=s.text(f"direction_{o.side.value}"), size=fmt_plain(o.size),
                  state=o.state.value, filled=fmt_plain(o.filled_size),
                  average=fmt_plain(o.average_price) if o.average_price else "-")


def _kind(s: Services, kind: str) -> str:
    try:
        return s.text(f"kind_{kind}")
    except KeyError:  # a kind this build has no word for (a newer journal): as recorded
        return kind


def action_text(s: Services, past: PastAction) -> str:
    a = past.action
    lines = [s.text("history_action", id=a.id, time=a.created_at.strftime("%m-%d %H:%M"),
                    kind=_kind(s, a.kind),
                    account=a.account, symbol=a.symbol or "", side=s.text(a.side) if a.side
                    else "", state=s.text(f"state_{a.state.value}"))]
    if past.filled:
        lines.append(s.text("history_filled", filled=fmt_plain(past.filled),
                            price=fmt_plain(past.average_price or Decimal(0)),
                            fee=fmt_fee(past.totals.fee),
                            pnl=fmt_signed_usdt(past.totals.realized_pnl)))
    else:
        lines.append(s.text("history_nothing_filled"))
    # The latest orders: a grid's or a batch close's last ones are what support asks about.
    lines += [_order_line(s, o) for o in past.orders[-ORDERS_SHOWN:]]
    if len(past.orders) > ORDERS_SHOWN:
        lines.append(s.text("history_more_orders", n=len(past.orders) - ORDERS_SHOWN))
    if a.error:
        lines.append(s.text("history_error", error=a.error[:200]))
    return "\n".join(lines)


def _history_args(s: Services, args: list[str]) -> tuple[int, str | None, str | None]:
    """(count, account, symbol) in any order: a number, an account's name, a coin."""
    count, account, symbol = 10, None, None
    names = {a.name.lower() for a in s.config.accounts}
    for word in args:
        if word.isdecimal() and len(word) <= 4:
            count = int(word)
        elif word.lower() in names and account is None:
            account = word
        elif symbol is None:
            symbol = word
        else:
            raise Refusal("too_many", extra=word[:30])
    return count, account, symbol


async def history_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    args = context.args or []
    try:
        if len(args) > 3:
            raise Refusal("too_many", extra=" ".join(args[3:])[:60])
        count, account, symbol = _history_args(s, args)
        actions = await s.ops.history.recent(count, account, symbol)
    except Refusal as exc:
        await update.effective_message.reply_text(  # type: ignore[union-attr]
            s.refusal(exc, "usage_history"))
        return
    if not actions:
        await reply(update, context, "history_none")
        return
    body = "\n\n".join(action_text(s, past) for past in actions)
    await reply_long(update, s.text("history_title", n=len(actions)) + "\n" + body)


def _line(s: Services, what: str, t: Totals) -> str:
    return s.text("pnl_line", what=what, pnl=fmt_signed_usdt(t.realized_pnl),
                  fee=fmt_fee(t.fee), net=fmt_signed_usdt(t.net), fills=t.fills)


def pnl_text(s: Services, r: PnlReport) -> str:
    period = s.text(f"pnl_period_{r.period}")
    if not r.total.fills:
        return s.text("pnl_none", period=period)
    lines = [s.text("pnl_title", period=period), s.text("pnl_by_day")]
    lines += [_line(s, day.isoformat(), t) for day, t in r.days]
    lines.append(s.text("pnl_by_account"))
    lines += [_line(s, account, t) for account, t in r.accounts]
    lines.append(s.text("pnl_by_instrument"))
    lines += [_line(s, symbol, t) for symbol, t in r.instruments]
    t = r.total
    lines.append(s.text("pnl_total", pnl=fmt_signed_usdt(t.realized_pnl), fee=fmt_fee(t.fee),
                        net=fmt_signed_usdt(t.net), fills=t.fills))
    return "\n".join(lines)


async def pnl_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    args = context.args or []
    if len(args) > 1:
        await reply(update, context, "usage", usage=s.text("usage_pnl"))
        return
    try:
        report = await s.ops.history.pnl(args[0] if args else "today")
    except Refusal as exc:
        await update.effective_message.reply_text(  # type: ignore[union-attr]
            s.refusal(exc, "usage_pnl"))
        return
    await reply_long(update, pnl_text(s, report))
