"""`/tp [SYMBOL]`: each position's take-profit ladder, the tiers fired, and the next
threshold or why the position is skipped. `/tp reset SYMBOL long|short [account]` clears
a ladder after a confirmation."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.ops.refusal import Refusal
from bot.rules.take_profit import Skip, TierStatus
from handlers.common import Services, confirm_markup, edit, reply, reply_long, services
from handlers.messages import fmt_pct, fmt_plain, fmt_usdt
from handlers.parse import account_and_side

USAGE = "usage_tp"


def status_text(s: Services, status: TierStatus) -> str:
    n = status.fired + 1
    if status.skip is Skip.MARGIN_TOO_SMALL:
        return s.text("tp_skip_margin", min=fmt_usdt(s.config.rules.take_profit.min_margin))
    if status.skip is Skip.LADDER_DONE:
        return s.text("tp_ladder_done")
    if status.skip is Skip.BELOW_MINIMUM:
        return s.text("tp_below_minimum", tier=n)
    assert status.next_tier is not None
    if status.skip is Skip.BELOW_THRESHOLD:
        return s.text("tp_next", tier=n, at=fmt_pct(status.next_tier.profit_pct),
                      now=fmt_pct(status.position.profit_rate))
    return s.text("tp_fires_next", tier=n)


async def tp_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    args = context.args or []
    if args and args[0].lower() == "reset":
        await _ask_reset(update, context, args[1:])
        return
    if len(args) > 1:
        await reply(update, context, "usage", usage=s.text(USAGE))
        return
    try:
        if args:  # no venue knows the symbol: say so, as /close does
            await s.ops.positions.known_symbol(args[0])
        accounts = await s.ops.take_profit.ladders(args[0] if args else None)
    except Refusal as exc:
        await update.effective_message.reply_text(s.refusal(exc, USAGE))  # type: ignore[union-attr]
        return
    if args and not any(a.positions or a.error for a in accounts):
        refusal = Refusal("no_position", what=args[0].upper()[:30], side="",
                          accounts=", ".join(a.name for a in s.config.accounts))
        await update.effective_message.reply_text(s.refusal(refusal))  # type: ignore[union-attr]
        return
    sections = []
    for a in accounts:
        if a.error is not None:
            sections.append(s.text("positions_error", account=a.account, venue=a.venue,
                                   error=a.error))
            continue
        lines = [s.text("tp_title", account=a.account, mode=s.text(f"mode_{a.mode.value}"))]
        for status in a.positions:
            p = status.position
            tiers = " · ".join(
                ("✅ " if i < status.fired else "▫️ ")
                + f"{fmt_plain(t.profit_pct)}%→{fmt_plain(t.close_pct)}%"
                for i, t in enumerate(status.ladder))
            lines.append(s.text("tp_line", symbol=p.symbol, side=s.text(p.side.value),
                                rate=fmt_pct(p.profit_rate), margin=fmt_usdt(p.margin),
                                tiers=tiers, status=status_text(s, status)))
        sections.append("\n".join(lines))
    await reply_long(update, "\n\n".join(sections) or s.text("tp_nothing"))


async def _ask_reset(update: Update, context: ContextTypes.DEFAULT_TYPE,
                     args: list[str]) -> None:
    """`/tp reset SYMBOL long|short [account]`: the same position lookup as /close."""
    s = services(context)
    if len(args) not in (2, 3) or args[1].lower() not in ("long", "short"):
        await reply(update, context, "usage", usage=s.text(USAGE))
        return
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    try:
        account, side = account_and_side(args[1:], [a.name for a in s.config.accounts])
        [position] = await s.ops.positions.find(args[0], account, side)
    except Refusal as exc:
        await message.reply_text(s.refusal(exc, USAGE))
        return
    token = await s.store.create_confirmation(
        user.id, message.chat_id, "tp_reset",
        {"account": position.account, "symbol": position.symbol, "side": position.side.value},
        ttl_seconds=s.config.telegram.confirm_timeout_seconds)
    sent = await message.reply_text(
        s.text("tp_reset_confirm", symbol=position.symbol, side=s.text(position.side.value),
               account=position.account), reply_markup=confirm_markup(s, token))
    await s.store.attach_message(token, sent.message_id)


async def reset_confirmed(s: Services, message: object, user_id: int, payload: dict) -> None:
    account, symbol, side = payload["account"], payload["symbol"], payload["side"]
    await s.ops.take_profit.reset((account, symbol, side), user_id)
    await edit(message, s.text("tp_reset_done", symbol=symbol, side=s.text(side),
                               account=account))
