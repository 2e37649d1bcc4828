"""/status and /positions: what the venues and the jobs say right now."""

from __future__ import annotations

from datetime import datetime

from telegram import Update
from telegram.ext import ContextTypes

from bot.domain import Position
from bot.ops.context import VENUE_READ_TIMEOUT
from bot.ops.refusal import Refusal
from handlers.common import Services, reply, reply_long, services
from handlers.messages import fmt_pct, fmt_plain, fmt_usdt
from handlers.tp import status_text


def _error_text(s: Services, error: str | None, timed_out: bool) -> str:
    if timed_out:
        return s.text("no_answer", seconds=f"{VENUE_READ_TIMEOUT:.0f}")
    return error or ""


def _when(s: Services, moment: datetime | None) -> str:
    return moment.astimezone().strftime("%H:%M:%S") if moment else s.text("job_never")


async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    snapshot = await s.ops.status.snapshot()
    lines = [s.text("status_title"), s.text("status_paused" if snapshot.paused
                                            else "status_running"), s.text("status_venues")]
    for v in snapshot.accounts:
        if v.balance is None:
            lines.append(s.text("venue_down", account=v.account, venue=v.venue,
                                error=_error_text(s, v.error, v.timed_out)))
        else:
            lines.append(s.text("venue_ok", account=v.account, venue=v.venue,
                                equity=fmt_usdt(v.balance.equity), free=fmt_usdt(v.balance.free)))
    lines.append(s.text("status_jobs"))
    for job in snapshot.jobs:
        state = ("job_paused" if job.paused else "job_running" if job.running else "job_idle")
        error = s.text("job_error", error=job.last_error) if job.last_error else ""
        behind = (s.text("job_behind_counts", skipped=job.skipped, late=job.late)
                  if job.skipped or job.late else "")
        lines.append(s.text("job_line", name=job.name, state=s.text(state),
                            last=_when(s, job.last_run), next=_when(s, job.next_run),
                            behind=behind, error=error))
    if snapshot.member is not None:  # a cluster: which process acts for what
        lines.append(s.text("status_cluster"))
        for m in snapshot.members:
            lines.append(s.text("member_line", name=m.name, accounts=m.accounts,
                                telegram=s.text("member_polls") if m.polls else "",
                                me=s.text("member_me") if m.name == snapshot.member else ""))
    await reply_long(update, "\n".join(lines))


def position_line(s: Services, p: Position) -> str:
    return s.text("position_line", symbol=p.symbol, side=s.text(p.side.value),
                  size=s.size(p.size, p.instrument),
                  margin=fmt_usdt(p.margin), rate=fmt_pct(p.profit_rate),
                  lev=fmt_plain(p.leverage))


async def positions(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    args = context.args or []
    if len(args) > 1:
        await reply(update, context, "usage", usage=s.text("usage_positions"))
        return
    try:
        accounts = await s.ops.positions.overview(args[0] if args else None)
    except Refusal as exc:
        await update.effective_message.reply_text(s.refusal(exc))  # type: ignore[union-attr]
        return
    sections = []
    for a in accounts:
        if a.unreadable:
            sections.append(s.text("positions_error", account=a.account, venue=a.venue,
                                   error=_error_text(s, a.error, a.timed_out)))
            continue
        if not a.positions:
            sections.append(s.text("positions_none", account=a.account, venue=a.venue))
            continue
        lines = [s.text("positions_title", account=a.account, venue=a.venue)]
        for view in a.positions:
            lines.append(position_line(s, view.position))
            if view.take_profit is not None:
                lines.append(f"  {s.text('tp_label')}: {status_text(s, view.take_profit)}")
        sections.append("\n".join(lines))
    await reply_long(update, "\n\n".join(sections))
