"""The events the use cases publish, as Telegram shows them: a push message to the alert
chats (with its buttons), or an edit of the message an action reports in."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import TelegramError

from bot.domain import Position
from bot.ops import events as ev
from bot.ops.close import CloseResult
from bot.ops.status import BEHIND, StartSummary
from bot.rules.grid import Skip as GridSkip
from bot.rules.grid import Why
from bot.rules.hedge import HedgeClose
from bot.rules.take_profit import TierClose
from handlers.common import WATCH, Services, send_alert
from handlers.correct import plan_lines, report_lines
from handlers.maintain import report_text, retry_markup
from handlers.messages import fmt_fee, fmt_pct, fmt_plain, fmt_signed_usdt, fmt_usdt
from handlers.why import say

log = logging.getLogger(__name__)

Markup = Callable[[int], Awaitable[InlineKeyboardMarkup | None]]


class Alerter:
    """Subscribed to the event bus by the composition root."""

    def __init__(self, services: Services, bot: Bot) -> None:
        self.s = services
        self.bot = bot

    async def deliver(self, event: ev.Event) -> None:
        s = self.s
        if isinstance(event, ev.MaintenanceEvent):
            await self._maintenance(event)
            return
        if isinstance(event, ev.ActionSettled):
            text = _settled(s, event)
            if event.pushed:
                await self._send(event, text)
            if event.chat_id is not None and event.message_id is not None:
                await self._edit(event.chat_id, event.message_id, text)
            return
        if isinstance(event, ev.WatcherAlerted):
            if event.mode == "ask":
                await self._send(event, _watcher_text(s, event.position),
                                 self._watcher_buttons(event.position))
            return
        text = render(s, event)
        if text is not None and event.alert is not None:
            await self._send(event, text)

    async def _send(self, event: ev.Event, text: str, markup_for: Markup | None = None) -> None:
        assert event.alert is not None
        await send_alert(self.bot, self.s.config, event.alert, text, markup_for)

    async def _maintenance(self, event: ev.MaintenanceEvent) -> None:
        s = self.s
        if isinstance(event, ev.MaintenanceProgress):
            await self._show(event, report_text(s, event.report))
            return
        if isinstance(event, ev.MaintenanceNotResumed):
            text = s.text("maintenance_paused", symbol=event.plan.symbol,
                          side=s.text(event.plan.side.value), account=event.plan.account)
            if event.chat_id is not None:
                await self._message(event.chat_id, text, await retry_markup(
                    s, event.action, event.chat_id, event.requested_by))
            else:
                await self._send(event, text, lambda chat: retry_markup(
                    s, event.action, chat, None))
            return
        if isinstance(event, ev.MaintenanceBusy):
            text, failed = s.text("position_busy", symbol=event.plan.symbol,
                                  side=s.text(event.plan.side.value),
                                  account=event.plan.account), False
        else:
            assert isinstance(event, ev.MaintenanceFinished)
            text, failed = report_text(s, event.report), not event.report.result.done
        if event.message_id is None:
            await self._send(event, text, (lambda chat: retry_markup(
                s, event.action, chat, event.requested_by)) if failed else None)
        else:
            await self._show(event, text, await retry_markup(
                s, event.action, event.chat_id, event.requested_by) if failed else None)

    async def _show(self, event: ev.MaintenanceEvent, text: str,
                    markup: InlineKeyboardMarkup | None = None) -> None:
        """Edit the action's report message, if it has one."""
        if event.chat_id is not None and event.message_id is not None:
            await self._edit(event.chat_id, event.message_id, text, markup)

    async def _edit(self, chat_id: int, message_id: int, text: str,
                    markup: InlineKeyboardMarkup | None = None) -> None:
        try:
            await self.bot.edit_message_text(text, chat_id=chat_id, message_id=message_id,
                                             reply_markup=markup)
        except TelegramError as exc:
            # A report that cannot be shown (deleted message, Telegram down) must not stop
            # the action: the journal and the events table keep the record.
            if "not modified" not in str(exc).lower():
                log.warning("report_not_shown chat_id=%s error=%s", chat_id, exc)

    async def _message(self, chat_id: int, text: str,
                       markup: InlineKeyboardMarkup | None) -> None:
        try:
            await self.bot.send_message(chat_id, text, reply_markup=markup)
        except TelegramError as exc:
            log.warning("message_not_sent chat_id=%s error=%s", chat_id, exc)

    def _watcher_buttons(self, position: Position) -> Markup:
        s = self.s
        payload = {"account": position.account, "symbol": position.symbol,
                   "side": position.side.value}

        async def buttons(chat_id: int) -> InlineKeyboardMarkup:
            # A private chat's id is its user's id: the buttons answer that user only.
            token = await s.store.create_confirmation(
                chat_id, chat_id, "watcher", payload,
                ttl_seconds=s.config.rules.maintenance.watcher.cooldown_seconds)
            return InlineKeyboardMarkup([[
                InlineKeyboardButton(s.text(f"button_{choice}"),
                                     callback_data=f"{WATCH}:{token}:{choice}")
                for choice in ("maintain", "supermaintain", "skip")]])

        return buttons


def _settled(s: Services, event: ev.ActionSettled) -> str:
    account, symbol, side = event.where
    what = s.text(f"settled_{event.kind}" if event.kind in ("take_profit", "hedge")
                  else "settled_close")
    return s.text("action_settled", what=what, symbol=symbol, side=s.text(side) if side else "",
                  account=account, state=s.text(f"settled_state_{event.state}"),
                  filled=fmt_plain(event.filled), meant=fmt_plain(event.meant))


def _watcher_text(s: Services, p: Position) -> str:
    return s.text("watcher_alert", symbol=p.symbol, side=s.text(p.side.value),
                  account=p.account, rate=fmt_pct(p.profit_rate), margin=fmt_usdt(p.margin))


def render(s: Services, event: ev.Event) -> str | None:
    """The alert text of an event; None for events that are not told as alerts."""
    match event:
        case ev.TierFired(position=p, decision=d, result=r):
            return _closed(s, "tp_done", p, r,
                           _tier_names(s, p, d.tier, d.size) | _tier_rule(d))
        case ev.TierFailed(position=p, decision=d, error=error):
            return s.text("tp_failed", error=error or s.text("nothing_filled"),
                          **_tier_names(s, p, d.tier, d.size))
        case ev.TierObserved(position=p, decision=d):
            return s.text("tp_observe", **_tier_names(s, p, d.tier, d.size), **_tier_rule(d))
        case ev.HedgeClosed(position=p, decision=d, result=r):
            return _closed(s, "hedge_done", p, r, _hedge_names(s, d))
        case ev.HedgeFailed(position=p, decision=d, error=error):
            return s.text("hedge_failed", error=error or s.text("nothing_filled"),
                          **_hedge_names(s, d))
        case ev.HedgeObserved(decision=d):
            return s.text("hedge_observe", **_hedge_names(s, d))
        case ev.PositionCorrected(position=p, report=report):
            return s.text("correction_done", **_names(s, p),
                          changes="\n".join(report_lines(s, report)))
        case ev.CorrectionFailed(position=p, report=report, error=error):
            return s.text("correction_failed", **_names(s, p), error=error,
                          changes="\n".join(report_lines(s, report)))
        case ev.CorrectionObserved(position=p, plan=plan):
            return s.text("correction_observe", **_names(s, p),
                          changes="\n".join(plan_lines(s, plan)))
        case ev.GridDecided():
            return _grid(s, event)
        case ev.LedgerDrift(grid=grid, ledger=ledger, venue=venue):
            return s.text("ledger_drift", grid=grid, symbol=event.symbol,
                          ledger=fmt_plain(ledger), venue=fmt_plain(venue))
        case ev.LedgerHealed(grid=grid, held=held):
            return s.text("ledger_drift_healed", grid=grid, symbol=event.symbol,
                          held=fmt_plain(held))
        case ev.WatcherAutoRefused(position=p, refusal=refusal):
            return s.text("watcher_auto_refused", symbol=p.symbol, side=s.text(p.side.value),
                          account=p.account, reason=s.reason(refusal))
        case ev.Reconciled(lines=lines):
            return s.text("reconciled", lines="\n".join(lines))
        case ev.JobFailed(job=job, problem=problem):
            return s.text("job_failed_alert", job=job, problem=problem)
        case ev.JobBehind(job=job, why=why, interval=interval, skipped=skipped, late=late):
            return s.text("job_behind_alert", job=job, why=s.text(f"job_{why}"),
                          interval=f"{interval:g}", skipped=skipped, late=late)
        case ev.ProblemResolved():
            return _resolved(s, event)
        case ev.BotStarted(summary=summary):
            return _started(s, summary)
        case ev.BotStopped():
            return s.text("bot_stopped")
    return None


def _grid(s: Services, event: ev.GridDecided) -> str | None:
    """A grid's decision, when a trader wants to hear it: an answer to a fill, or why an
    order was not placed (a resting duplicate, and the start's own orders, are not told)."""
    d = event.decision
    names = {"grid": event.grid, "symbol": event.symbol, "level": d.level + 1,
             "direction": s.text(f"direction_{d.direction.value}")}
    if isinstance(d, GridSkip):
        if d.why is Why.DUPLICATE:
            return None
        answer = say(s, "answer", event.name, event.data()) or d.detail
        return s.text("grid_not_placed", answer=answer, **names)
    names |= {"size": fmt_plain(d.size), "price": fmt_plain(d.price)}
    if event.observed:
        return s.text("grid_would_place", **names)
    return None if d.after is None else s.text(event.name, **names)


def _names(s: Services, p: Position) -> dict[str, object]:
    return {"symbol": p.symbol, "side": s.text(p.side.value), "account": p.account,
            "before": s.size(p.size, p.instrument)}


def _tier_names(s: Services, p: Position, tier: int, size: Decimal) -> dict[str, object]:
    return _names(s, p) | {"tier": tier, "rate": fmt_pct(p.profit_rate),
                           "margin": fmt_usdt(p.margin), "closing": s.size(size, p.instrument)}


def _tier_rule(d: TierClose) -> dict[str, object]:
    """The tier as configured: its trigger and the share of the position it closes."""
    return {"trigger": f"{fmt_plain(d.rule.profit_pct)}%",
            "share": f"{fmt_plain(d.rule.close_pct)}%"}


def _hedge_names(s: Services, d: HedgeClose) -> dict[str, object]:
    loser, winner = d.loser, d.winner
    return _names(s, loser) | {
        "winner_rate": fmt_pct(winner.profit_rate), "winner_side": s.text(winner.side.value),
        "loser_rate": fmt_pct(loser.profit_rate), "share": fmt_pct(d.share_pct),
        "closing": s.size(d.size, loser.instrument), "keep": s.size(d.keep, loser.instrument)}


def _closed(s: Services, key: str, p: Position, result: CloseResult,
            names: dict[str, object]) -> str:
    orders = ", ".join(o.order.venue_id for o in result.outcomes if o.order is not None)
    return s.text(key, closed=s.size(result.filled_size, p.instrument),
                  price=fmt_plain(result.average_price or Decimal(0)), fee=fmt_fee(result.fee),
                  pnl=fmt_signed_usdt(result.realized_pnl),
                  left=s.size(p.size - result.filled_size, p.instrument), orders=orders or "-",
                  **names)


def _resolved(s: Services, event: ev.ProblemResolved) -> str:
    since = event.since.strftime("%Y-%m-%d %H:%M UTC")
    if event.job is not None and event.problem == BEHIND:
        return s.text("resolved_job_behind", job=event.job, since=since)
    if event.job is not None:
        return s.text("resolved_job", job=event.job, problem=event.problem,
                      count=event.count, since=since)
    assert event.where is not None
    account, symbol, side = event.where
    return s.text(f"resolved_{event.kind}", symbol=symbol, side=s.text(side), account=account,
                  problem=event.problem, count=event.count, since=since)


def _started(s: Services, summary: StartSummary) -> str:
    lines = [s.text("bot_started_demo" if summary.demo else "bot_started")]
    for a in summary.accounts:
        modes = " · ".join(f"{s.text('rule_' + rule)} {s.text('mode_' + mode)}"
                           for rule, mode in a.modes.items())
        lines.append(s.text("started_account", account=a.name, venue=a.venue, role=a.role,
                            modes=modes))
    for side, tiers in summary.ladders.items():
        lines.append(s.text("started_ladder", side=s.text(side), tiers=" · ".join(
            f"{fmt_plain(p)}%→{fmt_plain(c)}%" for p, c in tiers)))
    if summary.overrides:
        lines.append(s.text("started_overrides", accounts=", ".join(summary.overrides)))
    lines.append(s.text("started_intervals", take_profit=summary.intervals["take_profit"],
                        watcher=summary.intervals["watcher"],
                        correction=summary.intervals["correction"]))
    if summary.paused:
        lines.append(s.text("status_paused"))
    return "\n".join(lines)
