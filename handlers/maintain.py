"""`/maintain` and `/supermaintain`: the plan with [Confirm]/[Cancel], then the action
runs; its report (one message edited as the three steps progress, a [Retry] after a
failed step) is drawn here from the maintenance events, whoever started it."""

from __future__ import annotations

from decimal import Decimal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import ContextTypes

from bot.domain import Position, Side
from bot.ops.maintenance import MaintenancePlan, MaintenanceReport, PlannedMaintenance
from bot.ops.refusal import Refusal
from bot.rules.maintenance import Kind
from handlers.close import ask_side
from handlers.common import CONFIRM, Services, confirm_markup, edit, services, token_of
from handlers.messages import fmt_fee, fmt_pct, fmt_plain, fmt_signed_usdt, fmt_usdt
from handlers.parse import MaintainArgs, parse_maintain_args

STEPS = (1, 2, 3)  # close the old position, open, close most of it
RETRY_TTL_SECONDS = 24 * 3600


async def maintain_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _command(update, context, Kind.NORMAL)


async def supermaintain_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _command(update, context, Kind.SUPER)


def _usage(kind: Kind) -> str:
    return "usage_supermaintain" if kind is Kind.SUPER else "usage_maintain"


async def _command(update: Update, context: ContextTypes.DEFAULT_TYPE, kind: Kind) -> None:
    s = services(context)
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    try:
        args = parse_maintain_args(context.args or [], [a.name for a in s.config.accounts],
                                   super_=kind is Kind.SUPER)
        positions = await s.ops.positions.find(args.symbol, args.account, args.side)
        if len(positions) > 1:
            args = MaintainArgs(args.symbol, positions[0].account, None, args.amount,
                                args.target)
            await ask_side(s, message, user.id, "maintain_side", args, {
                "kind": kind.value, "symbol": args.symbol, "account": args.account,
                "amount": _str(args.amount), "target": _str(args.target)})
            return
        text, markup = await plan_message(s, user.id, message.chat_id, kind, positions[0],
                                          args.amount, args.target)
    except Refusal as exc:
        await message.reply_text(s.refusal(exc, _usage(kind)))
        return
    sent = await message.reply_text(text, reply_markup=markup)
    await s.store.attach_message(token_of(markup), sent.message_id)


async def side_chosen(s: Services, message: object, user_id: int, payload: dict,
                      side: Side) -> None:
    assert isinstance(message, Message)
    kind = Kind(payload["kind"])
    try:
        [position] = await s.ops.positions.find(payload["symbol"], payload["account"], side)
        text, markup = await plan_message(s, user_id, message.chat_id, kind, position,
                                          _dec(payload["amount"]), _dec(payload["target"]))
    except Refusal as exc:
        await edit(message, s.refusal(exc, _usage(kind)))
        return
    await edit(message, text, markup)
    await s.store.attach_message(token_of(markup), message.message_id)


async def plan_message(s: Services, user_id: int, chat_id: int, kind: Kind, position: Position,
                       amount: Decimal | None, target: Decimal | None
                       ) -> tuple[str, InlineKeyboardMarkup]:
    planned = await s.ops.maintenance.plan(kind, position, amount, target)
    token = await s.store.create_confirmation(
        user_id, chat_id, "maintain", planned.plan.to_json(),
        ttl_seconds=s.config.telegram.confirm_timeout_seconds)
    return plan_text(s, planned), confirm_markup(
        s, token, "button_confirm_past_ladder" if planned.past_ladder else "button_confirm")


def plan_text(s: Services, planned: PlannedMaintenance) -> str:
    plan, estimate, position = planned.plan, planned.estimate, planned.position

    def size(contracts: Decimal) -> str:
        return s.size(contracts, position.instrument)

    text = s.text(f"plan_{plan.kind.value}", symbol=plan.symbol, side=s.text(plan.side.value),
                  account=plan.account, count=plan.count + 1, old=size(position.size),
                  open=size(estimate.open_size), close=size(estimate.final_close),
                  kept=size(estimate.kept), margin=fmt_usdt(estimate.open_margin()),
                  fees=fmt_fee(planned.fees), free=fmt_usdt(planned.free_after_close),
                  amount=fmt_usdt(plan.amount or Decimal(0)),
                  target=fmt_usdt(plan.target or Decimal(0)))
    if planned.past_ladder:
        text += "\n" + s.text("plan_past_ladder", count=plan.count)
    return text


async def execute(s: Services, message: object, user_id: int, payload: dict) -> None:
    assert isinstance(message, Message)
    try:
        action = await s.ops.maintenance.start(
            MaintenancePlan.from_json(payload), origin="command", requested_by=user_id,
            chat_id=message.chat_id, message_id=message.message_id)
    except Refusal as exc:
        await edit(message, s.refusal(exc))
        return
    await s.ops.maintenance.run(action)


async def retry_confirmed(s: Services, message: object, user_id: int, payload: dict) -> None:
    assert isinstance(message, Message)
    try:
        await s.ops.maintenance.retry(int(payload["action"]), message.chat_id,
                                      message.message_id)
    except Refusal as exc:  # finished meanwhile (another chat's [Retry])
        await edit(message, s.refusal(exc))


async def retry_markup(s: Services, action: int, chat_id: int | None,
                       requested_by: int | None) -> InlineKeyboardMarkup | None:
    """[Retry], for the user who asked (or, for the watcher's own, the alert chat's user)."""
    if chat_id is None:
        return None
    token = await s.store.create_confirmation(requested_by or chat_id, chat_id,
                                              "maintain_retry", {"action": action},
                                              ttl_seconds=RETRY_TTL_SECONDS)
    return InlineKeyboardMarkup([[InlineKeyboardButton(
        s.text("button_retry"), callback_data=f"{CONFIRM}:{token}")]])


def report_text(s: Services, report: MaintenanceReport) -> str:
    plan, result = report.plan, report.result

    def size(contracts: Decimal) -> str:
        return s.size(contracts, report.instrument)

    lines = [s.text(f"report_{plan.kind.value}", symbol=plan.symbol,
                    side=s.text(plan.side.value), account=plan.account, old=size(plan.old_size))]
    for step in STEPS:
        r = result.steps[step]
        if not r.outcomes:
            mark = "⏳" if report.running and result.failed_step is None else "▫️"
            lines.append(s.text(f"report_step_{step}", mark=mark, detail="-"))
            continue
        detail = s.text("report_step_detail", orders=", ".join(r.order_ids) or "-",
                        filled=size(r.filled_size), price=fmt_plain(r.average_price or Decimal(0)),
                        fills=r.fills, fee=fmt_fee(r.fee))
        lines.append(s.text(f"report_step_{step}", mark="✅" if r.done else "❌",
                            detail=detail))
    lines.append(s.text("report_totals", pnl=fmt_signed_usdt(result.pnl),
                        fees=fmt_fee(result.fees),
                        net=fmt_signed_usdt(result.pnl - result.fees),
                        rate=fmt_pct(report.fee_rate_pct), left=size(report.left),
                        count=report.count))
    if not report.running and plan.old_margin is not None and plan.old_profit_rate is not None:
        now = report.now
        lines.append(s.text(
            "report_before_after", size_before=size(plan.old_size),
            margin_before=fmt_usdt(plan.old_margin), rate_before=fmt_pct(plan.old_profit_rate),
            size_after=size(now.size if now else Decimal(0)),
            margin_after=fmt_usdt(now.margin if now else Decimal(0)),
            rate_after=fmt_pct(now.profit_rate) if now else "-"))
    if result.failed_step is not None and not report.running:
        lines.append(s.text("report_failed", step=result.failed_step, error=result.error))
    return "\n".join(lines)


def _str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
