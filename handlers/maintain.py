"""`/maintain` and `/supermaintain`: the plan with [Confirm]/[Cancel], then one report
message edited as the three steps progress; a failed step leaves a [Retry] that resumes
the same journaled action from where it stopped."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.busy import PositionBusy
from bot.close_command import BadCommand, MaintainArgs, parse_maintain_args
from bot.config import RuleMode
from bot.domain import Position, Side
from bot.maintenance import CLOSE_NEW, CLOSE_OLD, OPEN, MaintenanceResult, MaintenanceRunner
from bot.messages import fmt_fee, fmt_pct, fmt_plain, fmt_signed_usdt, fmt_usdt
from bot.rules.maintenance import (
    Kind,
    LadderTier,
    Plan,
    PlanError,
    plan_normal,
    plan_super,
    precheck,
    super_tier,
)
from bot.sizing import HUNDRED, notional
from bot.venues.base import VenueError
from handlers.close import ask_side, find_positions
from handlers.common import (
    CONFIRM,
    Services,
    confirm_markup,
    edit,
    reason,
    send_alert,
    services,
    token_of,
)
from jobs.profit_rules import ladder_key

log = logging.getLogger(__name__)

COUNT_RULE = "maintenance"


def maintenance_count(s: Services, account: str, symbol: str, side: str) -> int:
    return int(s.store.get_rule_state(account, symbol, side, COUNT_RULE).get("count", 0))


async def maintain_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _command(update, context, Kind.NORMAL)


async def supermaintain_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _command(update, context, Kind.SUPER)


def _usage(s: Services, kind: Kind) -> str:
    return s.text("usage_supermaintain" if kind is Kind.SUPER else "usage_maintain")


async def _command(update: Update, context: ContextTypes.DEFAULT_TYPE, kind: Kind) -> None:
    s = services(context)
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    try:
        args = parse_maintain_args(context.args or [], list(s.venues),
                                   super_=kind is Kind.SUPER)
        positions = await find_positions(s, args)
        if len(positions) > 1:
            args = MaintainArgs(args.symbol, positions[0].account, None, args.amount,
                                args.target)
            await ask_side(s, message, user.id, "maintain_side", args, {
                "kind": kind.value, "symbol": args.symbol, "account": args.account,
                "amount": _str(args.amount), "target": _str(args.target)})
            return
        text, markup = await _plan(s, user.id, message.chat_id, kind, positions[0],
                                   args.amount, args.target)
    except (BadCommand, PlanError) as exc:
        await message.reply_text(s.text("bad_argument", usage=_usage(s, kind),
                                        reason=reason(s, exc)))
        return
    except VenueError as exc:
        await message.reply_text(s.text("venue_read_failed", error=str(exc)))
        return
    sent = await message.reply_text(text, reply_markup=markup)
    s.store.attach_message(token_of(markup), sent.message_id)


async def side_chosen(s: Services, message: object, user_id: int, payload: dict,
                      side: Side) -> None:
    assert isinstance(message, Message)
    kind = Kind(payload["kind"])
    args = MaintainArgs(payload["symbol"], payload["account"], side, _dec(payload["amount"]),
                        _dec(payload["target"]))
    try:
        [position] = await find_positions(s, args)
        text, markup = await _plan(s, user_id, message.chat_id, kind, position, args.amount,
                                   args.target)
    except (BadCommand, PlanError) as exc:
        await edit(message, s.text("bad_argument", usage=_usage(s, kind),
                                   reason=reason(s, exc)))
        return
    await edit(message, text, markup)
    s.store.attach_message(token_of(markup), message.message_id)


@dataclass(frozen=True, slots=True)
class Planned:
    plan: Plan
    payload: dict[str, Any]  # what the action journals: enough to resume it
    past_ladder: bool
    free_after_close: Decimal


async def build_plan(s: Services, kind: Kind, position: Position, amount: Decimal | None,
                     target: Decimal | None) -> Planned:
    """The plan at the current mark, with the count's ladder tier; PlanError when the
    balance would not cover step 2 once the old position is closed."""
    settings = s.config.rules.maintenance
    venue = s.venues[position.account]
    count = maintenance_count(s, position.account, position.symbol, position.side.value)
    price = await venue.mark_price(position.symbol)
    past_ladder = False
    if kind is Kind.NORMAL:
        plan = plan_normal(position, price, settings.multiplier, settings.keep_share_pct)
    else:
        ladder = [LadderTier(t.amount, t.target) for t in settings.super_ladder]
        tier = super_tier(count, ladder)
        past_ladder = tier is None and amount is None
        tier = tier or ladder[-1]
        amount, target = amount or tier.amount, target or tier.target
        if target >= amount:
            raise PlanError("target_not_below", target=fmt_plain(target),
                            amount=fmt_plain(amount))
        plan = plan_super(position, price, amount, target)
    balance = await venue.balance()
    shortfall = precheck(plan, balance.free, settings.taker_fee_pct)
    if shortfall is not None:
        raise PlanError("balance_short", free=fmt_usdt(shortfall.free_after_close),
                        needed=fmt_usdt(shortfall.needed))
    payload = {"kind": kind.value, "account": position.account, "symbol": position.symbol,
               "side": position.side.value, "old_size": str(position.size),
               "open_size": str(plan.open_size), "keep_share_pct": str(settings.keep_share_pct),
               "price": str(price), "leverage": str(position.leverage),
               "amount": _str(plan.amount), "target": _str(plan.target), "count": count}
    return Planned(plan, payload, past_ladder,
                   balance.free + position.margin + position.unrealized_pnl)


async def _plan(s: Services, user_id: int, chat_id: int, kind: Kind, position: Position,
                amount: Decimal | None, target: Decimal | None
                ) -> tuple[str, InlineKeyboardMarkup]:
    planned = await build_plan(s, kind, position, amount, target)
    plan, inst = planned.plan, position.instrument

    def size(contracts: Decimal) -> str:
        return s.size(contracts, inst)

    token = s.store.create_confirmation(user_id, chat_id, "maintain", planned.payload,
                                       ttl_seconds=s.config.telegram.confirm_timeout_seconds)
    text = s.text(f"plan_{kind.value}", symbol=position.symbol,
                  side=s.text(position.side.value), account=position.account,
                  count=planned.payload["count"] + 1, old=size(position.size),
                  open=size(plan.open_size), close=size(plan.final_close),
                  kept=size(plan.kept), margin=fmt_usdt(plan.open_margin()),
                  fees=fmt_fee(plan.fees(s.config.rules.maintenance.taker_fee_pct)),
                  free=fmt_usdt(planned.free_after_close),
                  amount=fmt_usdt(plan.amount or Decimal(0)),
                  target=fmt_usdt(plan.target or Decimal(0)))
    if planned.past_ladder:
        text += "\n" + s.text("plan_past_ladder", count=planned.payload["count"])
    return text, confirm_markup(s, token, "button_confirm_past_ladder" if planned.past_ladder
                                else "button_confirm")


async def execute(s: Services, message: object, user_id: int, payload: dict) -> None:
    assert isinstance(message, Message)
    venue = s.venues[payload["account"]]
    side = Side(payload["side"])
    held = next((p for p in await venue.positions()
                 if p.symbol == payload["symbol"] and p.side is side), None)
    if held is None or held.size != Decimal(payload["old_size"]):
        why = (s.text("changed_gone", symbol=payload["symbol"], side=s.text(side.value),
                      account=payload["account"]) if held is None else
               s.text("changed_size", size=fmt_plain(held.size)))
        await edit(message, s.text("position_changed", reason=why))
        return
    action = s.store.create_action(payload["kind"], payload["account"], payload["symbol"],
                                   side.value, "command", payload, requested_by=user_id,
                                   chat_id=message.chat_id)
    s.store.update_action(action, message_id=message.message_id)
    await run_action(s, message.get_bot(), action, payload, message.chat_id,
                     message.message_id)


async def retry_confirmed(s: Services, message: object, user_id: int, payload: dict) -> None:
    assert isinstance(message, Message)
    action = s.store.action_with_steps(int(payload["action"]))
    if action is None:
        return
    await run_action(s, message.get_bot(), action.id, action.plan, message.chat_id,
                     message.message_id)


async def run_action(s: Services, bot: Bot, action: int, plan: dict[str, Any],
                     chat_id: int | None, message_id: int | None) -> MaintenanceResult | None:
    """Run or resume a maintenance action, editing its report message as it goes (or, for
    one the watcher started, sending the report to the alert chats). None if another
    action holds the position."""
    key = (plan["account"], plan["symbol"], plan["side"])
    try:
        with s.busy.hold(key):
            result = await _run(s, bot, action, plan, chat_id, message_id, key)
    except PositionBusy:
        s.store.update_action(action, state="failed", error="position busy")
        text = s.text("position_busy", symbol=key[1], side=s.text(key[2]), account=key[0])
        if message_id is None:
            await send_alert(bot, s.config, "maintenance", text)
        else:
            await _show(bot, chat_id, message_id, text)
        return None
    text = await report(s, plan, result, running=False)
    if message_id is None:
        retry = (lambda chat: _retry_button(s, action, chat)) if not result.done else None
        await send_alert(bot, s.config, "maintenance", text, retry)
    else:
        await _show(bot, chat_id, message_id, text,
                    None if result.done else _retry_button(s, action, chat_id))
    return result


async def _run(s: Services, bot: Bot, action: int, plan: dict[str, Any], chat_id: int | None,
               message_id: int | None, key: tuple[str, str, str]) -> MaintenanceResult:
    venue = s.venues[plan["account"]]
    close = s.config.rules.close
    runner = MaintenanceRunner(s.executor, s.store, venue, close.slippage_pct,
                               float(close.follow_timeout_seconds))
    s.store.update_action(action, state="running")

    async def progress(result: MaintenanceResult) -> None:
        await _show(bot, chat_id, message_id, await report(s, plan, result, running=True))

    result = await runner.run(action, plan, progress)
    if result.done:
        count = maintenance_count(s, *key) + 1
        s.store.put_rule_state(*key, COUNT_RULE, {"count": count})
        for mode in (RuleMode.ON, RuleMode.OBSERVE):  # the new position's fresh ladder
            s.store.delete_rule_state(*key, ladder_key(mode))
        s.store.update_action(action, state="done", result={"count": count})
        s.store.record_event("maintenance_done", f"{plan['kind']} #{count}", account=key[0],
                             symbol=key[1], side=key[2], action_id=action)
    else:
        s.store.update_action(action, state="partial" if result.steps[CLOSE_OLD].filled
                              else "failed", error=result.error)
        s.store.record_event("maintenance_failed", f"step {result.failed_step}: "
                             f"{result.error}"[:500], account=key[0], symbol=key[1],
                             side=key[2], severity="warning", action_id=action)
    return result


async def offer_retry(s: Services, bot: Bot, action: Any) -> None:
    """A maintenance interrupted by a restart while the bot is paused: not resumed by
    itself, but offered with [Retry] to the user who asked (or the alert chats)."""
    s.store.update_action(action.id, state="partial", error="not resumed: the bot is paused")
    plan = action.plan
    text = s.text("maintenance_paused", symbol=plan["symbol"], side=s.text(plan["side"]),
                  account=plan["account"])
    if action.chat_id is not None:
        try:
            await bot.send_message(action.chat_id, text,
                                   reply_markup=_retry_button(s, action.id, action.chat_id))
        except TelegramError as exc:
            log.warning("maintenance_retry_not_offered chat_id=%s error=%s", action.chat_id, exc)
        return
    await send_alert(bot, s.config, "maintenance", text,
                     lambda chat: _retry_button(s, action.id, chat))


def _retry_button(s: Services, action: int, chat_id: int | None) -> InlineKeyboardMarkup | None:
    """[Retry], for the user who asked (or, for the watcher's own, the alert chat's user)."""
    if chat_id is None:
        return None
    owner = s.store.action_with_steps(action)
    user = owner.requested_by if owner and owner.requested_by else chat_id
    token = s.store.create_confirmation(user, chat_id, "maintain_retry", {"action": action},
                                       ttl_seconds=24 * 3600)
    return InlineKeyboardMarkup([[InlineKeyboardButton(
        s.text("button_retry"), callback_data=f"{CONFIRM}:{token}")]])


async def report(s: Services, plan: dict[str, Any], result: MaintenanceResult, *,
                 running: bool) -> str:
    venue = s.venues[plan["account"]]
    inst = await venue.instrument(plan["symbol"])

    def size(contracts: Decimal) -> str:
        return s.size(contracts, inst)

    lines = [s.text(f"report_{plan['kind']}", symbol=plan["symbol"],
                    side=s.text(plan["side"]), account=plan["account"],
                    old=size(Decimal(plan["old_size"])))]
    traded = Decimal(0)
    for step in (CLOSE_OLD, OPEN, CLOSE_NEW):
        r = result.steps[step]
        if not r.outcomes:
            mark = "⏳" if running and result.failed_step is None else "▫️"
            lines.append(s.text(f"report_step_{step}", mark=mark, detail="-"))
            continue
        traded += notional(r.filled, r.average_price or Decimal(0), inst)
        mark = "✅" if r.done else "❌"
        detail = s.text("report_step_detail", orders=", ".join(r.order_ids) or "-",
                        filled=size(r.filled), price=fmt_plain(r.average_price or Decimal(0)),
                        fills=r.fills, fee=fmt_fee(r.fee))
        lines.append(s.text(f"report_step_{step}", mark=mark, detail=detail))
    held = next((p for p in await venue.positions()
                 if p.symbol == plan["symbol"] and p.side.value == plan["side"]), None)
    left = size(held.size if held else Decimal(0))
    rate = result.fees / traded * HUNDRED if traded else Decimal(0)
    count = maintenance_count(s, plan["account"], plan["symbol"], plan["side"])
    lines.append(s.text("report_totals", pnl=fmt_signed_usdt(result.pnl),
                        fees=fmt_fee(result.fees),
                        net=fmt_signed_usdt(result.pnl - result.fees), rate=fmt_pct(rate),
                        left=left, count=count))
    if result.failed_step is not None and not running:
        lines.append(s.text("report_failed", step=result.failed_step, error=result.error))
    return "\n".join(lines)


async def _show(bot: Bot, chat_id: int | None, message_id: int | None, text: str,
                markup: InlineKeyboardMarkup | None = None) -> None:
    if chat_id is None or message_id is None:
        return
    try:
        await bot.edit_message_text(text, chat_id=chat_id, message_id=message_id,
                                    reply_markup=markup)
    except TelegramError as exc:
        # A report that cannot be shown (deleted message, Telegram down) must not stop
        # the maintenance: the journal and the events table keep the record.
        if "not modified" not in str(exc).lower():
            log.warning("maintenance_report_not_shown chat_id=%s error=%s", chat_id, exc)


def _str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
