"""`/correct [account]`: what the next error-correction run would do on each position,
with [Run now]/[Cancel]; and the words for a correction's plan and its outcome, which
the alerts use too."""

from __future__ import annotations

from decimal import Decimal

from telegram import Update
from telegram.ext import ContextTypes

from bot.ops.correction import AccountPlans, CorrectionReport
from bot.ops.refusal import Refusal
from bot.rules.correction import CorrectionPlan
from handlers.common import (
    Services,
    confirm_markup,
    edit,
    reply,
    reply_long,
    services,
    split_message,
)
from handlers.messages import fmt_fee, fmt_plain, fmt_usdt

USAGE = "usage_correct"


def plan_lines(s: Services, plan: CorrectionPlan) -> list[str]:
    """What a correction would do, one line per step; none when nothing is needed."""
    p, lines = plan.position, []
    if plan.leverage_to is not None:
        lines.append(s.text("change_leverage", was=fmt_plain(p.leverage),
                            now=fmt_plain(plan.leverage_to)))
    if plan.close_size:
        lines.append(s.text("plan_close", size=s.size(plan.close_size, p.instrument),
                            was=fmt_usdt(plan.notional_before), now=fmt_usdt(plan.notional_after)))
    if plan.margin_moves:
        lines.append(s.text("plan_margin", was=fmt_usdt(p.margin), now=fmt_usdt(plan.margin_after),
                            steps=len(plan.margin_moves),
                            step=fmt_usdt(plan.targets.margin_step)))
    return lines


def report_lines(s: Services, report: CorrectionReport) -> list[str]:
    """What a correction changed, from the venue's numbers read back."""
    before, after = report.before, report.after or report.before
    inst, lines = before.instrument, []
    if report.leverage_after is not None:
        was = report.leverage_before or before.leverage
        lines.append(s.text("change_leverage", was=fmt_plain(was),
                            now=fmt_plain(report.leverage_after)))
    if (close := report.close) is not None:
        lines.append(s.text(
            "change_notional",
            was=fmt_usdt(report.notional(before)), now=fmt_usdt(report.notional(after)),
            closed=s.size(close.filled_size, inst), meant=s.size(close.size, inst),
            price=fmt_plain(close.average_price or Decimal(0)), fee=fmt_fee(close.fee)))
    if report.moves:
        lines.append(s.text("change_margin", was=fmt_usdt(report.moves[0].margin_before),
                            now=fmt_usdt(report.moves[-1].margin_after),
                            steps=len(report.moves)))
    return lines or [s.text("nothing_changed")]


def _account_text(s: Services, a: AccountPlans) -> str:
    if a.error is not None:
        return s.text("positions_error", account=a.account, venue=a.venue, error=a.error)
    lines = [s.text("correct_title", account=a.account, mode=s.text(f"mode_{a.mode.value}"))]
    for plan in a.plans:
        p = plan.position
        steps = plan_lines(s, plan)
        lines.append(s.text("correct_line", symbol=p.symbol, side=s.text(p.side.value),
                            steps="; ".join(steps) if steps else s.text("correct_within")))
    if not a.plans:
        lines.append(s.text("correct_no_positions"))
    return "\n".join(lines)


async def correct_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    args = context.args or []
    if len(args) > 1:
        await reply(update, context, "usage", usage=s.text(USAGE))
        return
    try:
        accounts = await s.ops.correction.preview(args[0] if args else None)
    except Refusal as exc:
        await message.reply_text(s.refusal(exc, USAGE))
        return
    if not accounts:
        await reply(update, context, "correct_none_on")
        return
    text = "\n\n".join(_account_text(s, a) for a in accounts)
    if not any(plan.needed for a in accounts for plan in a.plans):
        await reply_long(update, text + "\n\n" + s.text("correct_nothing"))
        return
    token = await s.store.create_confirmation(
        user.id, message.chat_id, "correct", {"accounts": [a.account for a in accounts]},
        ttl_seconds=s.config.telegram.confirm_timeout_seconds)
    *first, last = split_message(text)
    for part in first:
        await message.reply_text(part)
    sent = await message.reply_text(last, reply_markup=confirm_markup(s, token, "button_run_now"))
    await s.store.attach_message(token, sent.message_id)


async def run_confirmed(s: Services, message: object, user_id: int, payload: dict) -> None:
    """[Run now]: each account's correction, now; the details come as alerts."""
    await edit(message, s.text("correct_running"))
    corrected = failed = left = 0
    handed = []
    for account in payload["accounts"]:
        if s.handover is not None and not s.handover.holds(account):
            await s.handover.correct_elsewhere(account, user_id)
            handed.append(account)
            continue
        try:
            outcomes = await s.ops.correction.run(account, now=True, requested_by=user_id)
        except Refusal as exc:
            await edit(message, s.refusal(exc))
            return
        for outcome in outcomes:
            if outcome.report is None:
                left += 1
            elif outcome.report.error is None:
                corrected += 1
            else:
                failed += 1
    text = s.text("correct_ran", corrected=corrected, failed=failed, left=left)
    if handed:
        text += "\n" + s.text("correct_handed", accounts=", ".join(handed))
    await edit(message, text)
