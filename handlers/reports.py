"""/status and /positions: what the venues and the jobs say right now."""

from __future__ import annotations

import asyncio
from datetime import datetime

from telegram import Update
from telegram.ext import ContextTypes

from bot.config import RuleMode
from bot.domain import Position
from bot.messages import fmt_pct, fmt_plain, fmt_usdt
from bot.venues.base import Venue
from handlers.common import VENUE_READ_TIMEOUT, Services, reply, services, split_message
from handlers.tp import status_text, tier_status


def _error_text(s: Services, exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return s.text("no_answer", seconds=f"{VENUE_READ_TIMEOUT:.0f}")
    return str(exc) or type(exc).__name__


def _when(s: Services, moment: datetime | None) -> str:
    return moment.astimezone().strftime("%H:%M:%S") if moment else s.text("job_never")


async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    lines = [s.text("status_title"), s.text("status_paused" if s.pause.paused
                                            else "status_running"), s.text("status_venues")]

    async def venue_line(name: str, venue: Venue) -> str:
        try:
            balance = await asyncio.wait_for(venue.balance(), VENUE_READ_TIMEOUT)
        except Exception as exc:  # a report names any failure; it never raises
            return s.text("venue_down", account=name, venue=venue.venue,
                          error=_error_text(s, exc))
        return s.text("venue_ok", account=name, venue=venue.venue,
                      equity=fmt_usdt(balance.equity), free=fmt_usdt(balance.free))

    lines += await asyncio.gather(*(venue_line(n, v) for n, v in s.venues.items()))
    lines.append(s.text("status_jobs"))
    for job in s.jobs.statuses():
        state = ("job_paused" if job.paused else "job_running" if job.running else "job_idle")
        error = s.text("job_error", error=job.last_error) if job.last_error else ""
        lines.append(s.text("job_line", name=job.name, state=s.text(state),
                            last=_when(s, job.last_run), next=_when(s, job.next_run),
                            error=error))
    for part in split_message("\n".join(lines)):
        await update.effective_message.reply_text(part)  # type: ignore[union-attr]


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
    names = list(s.venues)
    if args:
        wanted = {n.lower(): n for n in names}.get(args[0].lower())
        if wanted is None:
            await reply(update, context, "unknown_account", name=args[0][:40],
                        names=", ".join(names))
            return
        names = [wanted]

    async def section(name: str) -> str:
        venue = s.venues[name]
        try:
            held = await asyncio.wait_for(venue.positions(), VENUE_READ_TIMEOUT)
        except Exception as exc:  # a report names any failure; it never raises
            return s.text("positions_error", account=name, venue=venue.venue,
                          error=_error_text(s, exc))
        if not held:
            return s.text("positions_none", account=name, venue=venue.venue)
        ordered = sorted(held, key=lambda p: (p.symbol, p.side.value))
        account = s.config.account(name)
        lines = [s.text("positions_title", account=name, venue=venue.venue)]
        for p in ordered:
            lines.append(position_line(s, p))
            if account.rule_mode("take_profit") is not RuleMode.OFF:
                status = status_text(s, tier_status(s, account, p))
                lines.append(f"  {s.text('tp_label')}: {status}")
        return "\n".join(lines)

    sections = await asyncio.gather(*(section(n) for n in names))
    for part in split_message("\n\n".join(sections)):
        await update.effective_message.reply_text(part)  # type: ignore[union-attr]
