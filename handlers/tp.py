"""`/tp [SYMBOL]`: each position's take-profit ladder, the tiers fired, and the next
threshold or why the position is skipped. `/tp reset SYMBOL long|short [account]` clears
a ladder after a confirmation."""

from __future__ import annotations

import asyncio

from telegram import Update
from telegram.ext import ContextTypes

from bot.close_command import BadCommand, MaintainArgs, account_and_side, resolve_instrument
from bot.config import AccountConfig, RuleMode
from bot.domain import Position
from bot.messages import fmt_pct, fmt_plain, fmt_usdt
from bot.rules.take_profit import Skip, Tier, TierStatus, ladder_status
from handlers.close import find_positions
from handlers.common import (
    VENUE_READ_TIMEOUT,
    Services,
    confirm_markup,
    edit,
    reason,
    reply,
    services,
    split_message,
)
from jobs.profit_rules import fired_count, ladder_key


def ladder_of(s: Services, account: str, position: Position) -> list[Tier]:
    return [Tier(t.profit_pct, t.close_pct)
            for t in s.config.take_profit_ladder(account, position.side.value)]


def tier_status(s: Services, account: AccountConfig, position: Position) -> TierStatus:
    rule = ladder_key(account.rule_mode("take_profit"))
    state = s.store.get_rule_state(account.name, position.symbol, position.side.value, rule)
    return ladder_status(position, fired_count(state or None, position),
                         ladder_of(s, account.name, position),
                         s.config.rules.take_profit.min_margin)


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
        await reply(update, context, "usage", usage=s.text("usage_tp"))
        return
    if args:
        refusals = []
        for venue in s.venues.values():
            try:
                resolve_instrument(args[0], await venue.instruments())
                break
            except BadCommand as exc:
                refusals.append(exc)
        else:  # no venue knows the symbol: say so, as /close does
            await reply(update, context, "bad_argument", reason=reason(s, refusals[0]),
                        usage=s.text("usage_tp"))
            return
    sections = await asyncio.gather(*(_section(s, a, args[0] if args else None)
                                      for a in s.config.accounts))
    text = "\n\n".join(x for x in sections if x) or s.text("tp_nothing")
    for part in split_message(text):
        await update.effective_message.reply_text(part)  # type: ignore[union-attr]


async def _section(s: Services, account: AccountConfig, symbol: str | None) -> str:
    venue = s.venues[account.name]
    mode = account.rule_mode("take_profit")
    try:
        positions = await asyncio.wait_for(venue.positions(), VENUE_READ_TIMEOUT)
        if symbol is not None:
            wanted = resolve_instrument(symbol, await venue.instruments()).symbol
            positions = [p for p in positions if p.symbol == wanted]
    except BadCommand:
        return ""
    except Exception as exc:  # a report names any failure; it never raises
        return s.text("positions_error", account=account.name, venue=venue.venue,
                      error=str(exc) or type(exc).__name__)
    if not positions:
        return ""
    lines = [s.text("tp_title", account=account.name, mode=s.text(f"mode_{mode.value}"))]
    for p in sorted(positions, key=lambda p: (p.symbol, p.side.value)):
        status = tier_status(s, account, p)
        tiers = " · ".join(
            ("✅ " if i < status.fired else "▫️ ")
            + f"{fmt_plain(t.profit_pct)}%→{fmt_plain(t.close_pct)}%"
            for i, t in enumerate(status.ladder))
        lines.append(s.text("tp_line", symbol=p.symbol, side=s.text(p.side.value),
                            rate=fmt_pct(p.profit_rate), margin=fmt_usdt(p.margin),
                            tiers=tiers, status=status_text(s, status)))
    return "\n".join(lines)


async def _ask_reset(update: Update, context: ContextTypes.DEFAULT_TYPE,
                     args: list[str]) -> None:
    """`/tp reset SYMBOL long|short [account]`: the same position lookup as /close."""
    s = services(context)
    usage = s.text("usage_tp")
    if len(args) not in (2, 3) or args[1].lower() not in ("long", "short"):
        await reply(update, context, "usage", usage=usage)
        return
    try:
        account, side = account_and_side(args[1:], list(s.venues))
        [position] = await find_positions(s, MaintainArgs(args[0], account, side))
    except BadCommand as exc:
        await reply(update, context, "bad_argument", usage=usage, reason=reason(s, exc))
        return
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    token = s.store.create_confirmation(
        user.id, message.chat_id, "tp_reset",
        {"account": position.account, "symbol": position.symbol, "side": position.side.value},
        ttl_seconds=s.config.telegram.confirm_timeout_seconds)
    sent = await message.reply_text(
        s.text("tp_reset_confirm", symbol=position.symbol, side=s.text(position.side.value),
               account=position.account), reply_markup=confirm_markup(s, token))
    s.store.attach_message(token, sent.message_id)


async def reset_confirmed(s: Services, message: object, user_id: int, payload: dict) -> None:
    account, symbol, side = payload["account"], payload["symbol"], payload["side"]
    for mode in (RuleMode.ON, RuleMode.OBSERVE):
        s.store.delete_rule_state(account, symbol, side, ladder_key(mode))
    s.store.record_event("tp_reset", f"ladder reset by user {user_id}", account=account,
                         symbol=symbol, side=side)
    await edit(message, s.text("tp_reset_done", symbol=symbol, side=s.text(side),
                               account=account))
