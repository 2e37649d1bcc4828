"""Error correction on one account (SPEC §6): each position's leverage, notional and
margin brought back to the targets of its maintenance count, one journaled action per
position that needs it; positions another action holds are left alone.

A correction that keeps failing for the same reason is alerted once, and once more when
it goes through (or the position needs nothing any more); observe mode tells what it
would do, once per decision. `/correct` shows the next run's plan and can run it now.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

from bot.busy import PositionBusy
from bot.config import RuleMode
from bot.correction import CorrectionReport, CorrectionRunner
from bot.domain import Position
from bot.ops.context import VENUE_READ_TIMEOUT, Context
from bot.ops.events import (
    CorrectionFailed,
    CorrectionObserved,
    PositionCorrected,
    ProblemResolved,
    RuleSkipped,
)
from bot.ops.maintenance import COUNT_RULE
from bot.ops.refusal import Refusal
from bot.rules.correction import CorrectionPlan, Targets, plan_correction
from bot.venues.base import VenueError, held_position

__all__ = ["AccountPlans", "Corrected", "Correction", "CorrectionReport"]

KIND = "correction"


@dataclass(frozen=True, slots=True)
class AccountPlans:
    """What the next run would do on one account (`/correct`)."""

    account: str
    venue: str
    mode: RuleMode
    plans: list[CorrectionPlan]  # every position, needing a correction or not
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Corrected:
    """One position's outcome in a run: corrected (or failed), or left alone."""

    position: Position
    report: CorrectionReport | None  # None: left alone (busy, or gone meanwhile)


def _where(p: Position) -> tuple[str, str, str]:
    return (p.account, p.symbol, p.side.value)


def _problem_key(rule: str, p: Position) -> str:
    return "|".join((rule, *_where(p)))


def _signature(plan: CorrectionPlan) -> str:
    """What makes two observed decisions "the same": the steps, not the exact cents."""
    return f"{plan.leverage_to}|{plan.close_size}|{len(plan.margin_moves)}"


class Correction:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def targets(self, position: Position) -> Targets:
        settings = self.ctx.config.rules.correction
        state = await self.ctx.store.get_rule_state(*_where(position), COUNT_RULE)
        count = int(state.get("count", 0))
        target = settings.target_for(count)
        return Targets(leverage=Decimal(settings.leverage), notional=target.notional,
                       margin=target.margin, tolerance_pct=settings.tolerance_pct,
                       margin_step=settings.margin_step)

    # -- the rule loop -----------------------------------------------------------------

    async def run(self, account_name: str, *, now: bool = False,
                  requested_by: int | None = None) -> list[Corrected]:
        """One run on one account. `now`: a user's [Run now], which corrects whatever the
        account's mode (observe mode otherwise only tells what it would do)."""
        ctx, account = self.ctx, self.ctx.config.account(account_name)
        mode = RuleMode.ON if now else account.rule_mode(KIND)
        try:
            positions = list(await ctx.venue(account.name).positions())
        except VenueError as exc:
            if not now:
                raise  # the job's failure: alerted once per problem
            raise Refusal("venue_read_failed", error=str(exc)) from None
        outcomes = []
        for p in positions:
            plan = plan_correction(p, await self.targets(p))
            if not plan.needed:  # a decision observed before may be told again later
                await ctx.alerts.clear(_problem_key("correction_observe", p))
                await self._resolved(p)
                continue
            if mode is RuleMode.OBSERVE:
                if await ctx.alerts.report(_problem_key("correction_observe", p), _signature(plan)):
                    await ctx.publish(CorrectionObserved(position=p, plan=plan))
                continue
            outcomes.append(await self._correct(p, origin="command" if now else "rule",
                                                requested_by=requested_by))
        still = {_where(p) for p in positions}
        for rule in (KIND, "correction_observe"):  # positions gone: nothing to resolve
            for key in ctx.alerts.keys(f"{rule}|{account.name}|"):
                if tuple(key.split("|", 1)[1].rsplit("|", 2)) not in still:
                    await ctx.alerts.clear(key)
        return outcomes

    async def _correct(self, seen: Position, *, origin: str,
                       requested_by: int | None) -> Corrected:
        ctx = self.ctx
        try:
            with ctx.busy.hold(_where(seen)):
                # SPEC §8: read again right before acting; another action may have changed it.
                position = await held_position(ctx.venue(seen.account), seen.symbol, seen.side)
                if position is None:
                    return Corrected(seen, None)
                targets = await self.targets(position)
                plan = plan_correction(position, targets)
                if not plan.needed:
                    return Corrected(position, None)
                action = await ctx.store.create_action(
                    KIND, position.account, position.symbol, position.side.value, origin,
                    {"targets": targets.to_json()},
                    requested_by=requested_by)
                report = await self._run(action, position, targets)
        except PositionBusy:
            await ctx.publish(RuleSkipped(position=seen, rule=KIND, why="busy"))
            return Corrected(seen, None)
        await self._told(position, action, report)
        return Corrected(position, report)

    async def _run(self, action: int, position: Position, targets: Targets
                   ) -> CorrectionReport:
        ctx = self.ctx
        await ctx.store.update_action(action, state="running")
        runner = CorrectionRunner(ctx.executor, ctx.store, ctx.venue(position.account),
                                  ctx.config.rules.close, ctx.clock)
        report = await runner.run(action, position, targets)
        state = "done" if report.error is None else "partial" if report.changed else "failed"
        await ctx.store.update_action(action, state=state, result=report.summary(),
                                      error=str(report.error)[:500] if report.error else None)
        return report

    async def _told(self, position: Position, action: int, report: CorrectionReport) -> None:
        """Done: told, and a problem alerted before is resolved. Failed: alerted once per
        problem (the venue's code), recorded every time."""
        if report.error is None:
            await self.ctx.publish(PositionCorrected(position=position, action=action,
                                                     report=report))
            await self._resolved(position)
            return
        error = report.error
        tell = await self.ctx.alerts.report(_problem_key(KIND, position), error.code or str(error))
        await self.ctx.publish(CorrectionFailed(position=position, action=action,
                                                report=report, error=str(error),
                                                repeat=not tell and not report.changed))

    async def _resolved(self, p: Position) -> None:
        cleared = await self.ctx.alerts.clear(_problem_key(KIND, p))
        if cleared is not None:
            await self.ctx.publish(ProblemResolved(
                kind=KIND, problem=cleared.signature, since=cleared.first_at,
                count=cleared.count, where=_where(p)))

    # -- after a restart ---------------------------------------------------------------

    async def resume(self, action_id: int) -> None:
        """A correction the previous run left unfinished, taken up from its journal: what
        it sent is looked up, a margin move of unknown fate decided by the venue's margin,
        and it goes on to the targets it was started with."""
        ctx = self.ctx
        record = await ctx.store.action_with_steps(action_id)
        if record is None or record.state.is_final:
            return
        targets = Targets.from_json(record.plan["targets"])
        venue = ctx.venue(record.account)
        position = await held_position(venue, record.symbol or "", record.side or "")
        if position is None:
            await ctx.store.update_action(action_id, state="failed", error="the position is gone")
            return
        try:
            with ctx.busy.hold(_where(position)):
                report = await self._run(action_id, position, targets)
        except PositionBusy:  # cannot be, at start; the next run corrects it anyway
            return
        await self._told(position, action_id, report)

    async def stand_still(self, action_id: int) -> None:
        """A correction left unfinished while the bot is paused: ended where it stands,
        its steps of unknown fate decided by what the venue holds; the first run after
        /resume corrects what is left."""
        ctx = self.ctx
        record = await ctx.store.action_with_steps(action_id)
        if record is None or record.state.is_final:
            return
        venue = ctx.venue(record.account)
        position = await held_position(venue, record.symbol or "", record.side or "")
        if position is not None:
            await CorrectionRunner(ctx.executor, ctx.store, venue, ctx.config.rules.close,
                                   ctx.clock).stand_still(action_id, position)
        await ctx.store.update_action(action_id, state="partial",
                                      error="not resumed: the bot is paused")

    # -- what /correct shows -----------------------------------------------------------

    async def preview(self, account: str | None = None) -> list[AccountPlans]:
        """What the next run would do, on one account or on every account with
        correction on or observing."""
        config = self.ctx.config
        names = [account] if account else [a.name for a in config.accounts
                                           if a.rule_mode(KIND) is not RuleMode.OFF]
        for name in names:
            self.ctx.venue(name)  # refused when unknown
        return list(await asyncio.gather(*(self._preview(n) for n in names)))

    async def _preview(self, name: str) -> AccountPlans:
        venue, mode = self.ctx.venue(name), self.ctx.config.account(name).rule_mode(KIND)
        try:
            positions = await asyncio.wait_for(venue.positions(), VENUE_READ_TIMEOUT)
        except (VenueError, TimeoutError) as exc:
            return AccountPlans(name, venue.venue, mode, [], str(exc) or type(exc).__name__)
        plans = [plan_correction(p, await self.targets(p))
                 for p in sorted(positions, key=lambda p: (p.symbol, p.side.value))]
        return AccountPlans(name, venue.venue, mode, plans)
