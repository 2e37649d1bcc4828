"""The watcher's answers in Telegram: an alert with [Maintain] [Super maintain] [Skip]
(`ask`), the buttons leading to the same plan as the commands, and the automatic super
maintenance (`auto`)."""

from __future__ import annotations

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.domain import Position, Side
from bot.messages import fmt_pct, fmt_usdt
from bot.rules.maintenance import Kind, PlanError
from bot.venues.base import VenueError
from handlers.common import WATCH, Services, edit, reason, send_alert
from handlers.maintain import build_plan, run_action, side_chosen


async def watcher_ask(s: Services, bot: Bot, position: Position) -> None:
    """An alert with [Maintain] [Super maintain] [Skip] in every alert chat."""
    text = s.text("watcher_alert", symbol=position.symbol, side=s.text(position.side.value),
                  account=position.account, rate=fmt_pct(position.profit_rate),
                  margin=fmt_usdt(position.margin))
    payload = {"account": position.account, "symbol": position.symbol,
               "side": position.side.value}

    def buttons(chat_id: int) -> InlineKeyboardMarkup:
        # A private chat's id is its user's id: the buttons answer that user only.
        token = s.store.create_confirmation(
            chat_id, chat_id, "watcher", payload,
            ttl_seconds=s.config.rules.maintenance.watcher.cooldown_seconds)
        return InlineKeyboardMarkup([[
            InlineKeyboardButton(s.text(f"button_{choice}"),
                                 callback_data=f"{WATCH}:{token}:{choice}")
            for choice in ("maintain", "supermaintain", "skip")]])

    await send_alert(bot, s.config, "watcher", text, buttons)


async def watcher_choice(s: Services, message: object, user_id: int, payload: dict,
                         choice: str) -> None:
    assert isinstance(message, Message)
    if choice == "skip":
        await edit(message, s.text("watcher_skipped", symbol=payload["symbol"],
                                   side=s.text(payload["side"]), account=payload["account"]))
        return
    await side_chosen(s, message, user_id, {
        "kind": choice, "symbol": payload["symbol"], "account": payload["account"],
        "amount": None, "target": None}, Side(payload["side"]))


async def watcher_auto(s: Services, bot: Bot, position: Position) -> None:
    """`auto`: a super maintenance at once, on the ladder; past its end only a human may."""
    try:
        planned = await build_plan(s, Kind.SUPER, position, None, None)
        if planned.past_ladder:
            raise PlanError("past_ladder_auto", count=planned.payload["count"])
    except (PlanError, VenueError) as exc:
        why = reason(s, exc) if isinstance(exc, PlanError) else str(exc)
        await send_alert(bot, s.config, "watcher", s.text(
            "watcher_auto_refused", symbol=position.symbol,
            side=s.text(position.side.value), account=position.account, reason=why))
        return
    action = s.store.create_action(Kind.SUPER.value, position.account, position.symbol,
                                   position.side.value, "rule", planned.payload)
    await run_action(s, bot, action, planned.payload, None, None)
