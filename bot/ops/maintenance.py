"""Maintenance of anchor positions (SPEC §5): the plan a user confirms, and the journaled
three-step action, whoever starts it — a command, a [Retry], the watcher, a restart.

Everything a front shows of a running maintenance comes as events: progress after each
step (shown without holding up the next; one a newer supersedes before it is shown is
skipped), and the final report (done, or which step failed and what is held now)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

from bot.busy import PositionBusy
from bot.domain import Instrument, Position
from bot.maintenance import CLOSE_OLD, MaintenancePlan, MaintenanceResult, MaintenanceRunner
from bot.ops.context import Context
from bot.ops.events import MaintenanceBusy, MaintenanceFinished, MaintenanceProgress
from bot.ops.refusal import Contracts, Refusal, Usdt
from bot.ops.take_profit import forget_ladders
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
from bot.venues.base import VenueError, held_position

__all__ = ["Maintenance", "MaintenancePlan", "MaintenanceReport", "PlannedMaintenance"]

log = logging.getLogger(__name__)

COUNT_RULE = "maintenance"


@dataclass(frozen=True, slots=True)
class PlannedMaintenance:
    """A plan to confirm: what will be sent, and the estimates to show with it."""

    plan: MaintenancePlan
    estimate: Plan  # the rule's plan at the current mark: margin, fees, kept
    position: Position
    past_ladder: bool  # the count is past the super ladder: needs an explicit confirm
    free_after_close: Decimal
    fees: Decimal


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    """What a maintenance did so far: each step's orders and fills, the totals."""

    plan: MaintenancePlan
    result: MaintenanceResult
    instrument: Instrument
    left: Decimal  # contracts held now
    count: int  # maintenances done, this one included once it succeeded
    running: bool
    now: Position | None = None  # the position as read for this report (None: none held)

    @property
    def fee_rate_pct(self) -> Decimal:
        """Fees over the notional traded by all three steps, in percent."""
        traded = sum((notional(r.filled_size, r.average_price or Decimal(0), self.instrument)
                      for r in self.result.steps.values() if r.outcomes), Decimal(0))
        return self.result.fees / traded * HUNDRED if traded else Decimal(0)


class ProgressChain:
    """One action's progress messages, shown in order without holding up its steps: each
    waits for the one before; one that a newer one (or the final report) supersedes
    before it starts is skipped, the newer shows more."""

    def __init__(self) -> None:
        self._last: asyncio.Task[None] | None = None
        self._latest = 0

    def push(self, show: Callable[[], Awaitable[None]]) -> None:
        self._latest += 1
        self._last = asyncio.create_task(self._show(self._latest, self._last, show))

    async def _show(self, n: int, before: asyncio.Task[None] | None,
                    show: Callable[[], Awaitable[None]]) -> None:
        if before is not None:
            await asyncio.wait([before])
        if n != self._latest:
            return
        try:
            await show()
        except Exception:  # progress is for the user: failing to show it stops nothing
            log.exception("maintenance_progress_not_shown")

    def close(self) -> None:
        """No progress starts from now on: the final report follows."""
        self._latest += 1

    async def drain(self) -> None:
        """Until the progress being shown is shown, so the final report comes after it."""
        if self._last is not None:
            await asyncio.wait([self._last])

    def cancel(self) -> None:
        if self._last is not None:
            self._last.cancel()


class Maintenance:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # The position as `start` read it, for the run that follows at once: not read again.
        self._held: dict[int, Position] = {}

    async def count(self, key: tuple[str, str, str]) -> int:
        state = await self.ctx.store.get_rule_state(*key, COUNT_RULE)
        return int(state.get("count", 0))

    async def plan(self, kind: Kind, position: Position, amount: Decimal | None = None,
                   target: Decimal | None = None) -> PlannedMaintenance:
        """The plan at the current mark, with the count's ladder tier; refused when the
        balance would not cover step 2 once the old position is closed."""
        try:
            return await self._plan(kind, position, amount, target)
        except PlanError as exc:
            raise Refusal(exc.key, **exc.values) from None
        except VenueError as exc:
            raise Refusal("venue_read_failed", error=str(exc)) from None

    async def _plan(self, kind: Kind, position: Position, amount: Decimal | None,
                    target: Decimal | None) -> PlannedMaintenance:
        settings = self.ctx.config.rules.maintenance
        venue = self.ctx.venue(position.account)
        count = await self.count((position.account, position.symbol, position.side.value))
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
                raise Refusal("target_not_below", target=target, amount=amount)
            plan = plan_super(position, price, amount, target)
        balance = await venue.balance()
        shortfall = precheck(plan, balance.free, settings.taker_fee_pct)
        if shortfall is not None:
            raise Refusal("balance_short", free=Usdt(shortfall.free_after_close),
                          needed=Usdt(shortfall.needed))
        journal = MaintenancePlan(kind, position.account, position.symbol, position.side,
                                  position.size, plan.open_size, settings.keep_share_pct, price,
                                  position.leverage, plan.amount, plan.target, count,
                                  position.margin, position.profit_rate)
        return PlannedMaintenance(journal, plan, position, past_ladder,
                                  balance.free + position.margin + position.unrealized_pnl,
                                  plan.fees(settings.taker_fee_pct))

    async def start(self, plan: MaintenancePlan, *, origin: str,
                    requested_by: int | None = None, chat_id: int | None = None,
                    message_id: int | None = None) -> int:
        """Journal a confirmed plan as an action, after reading the position again: one
        that changed since the plan was made is refused, and nothing is sent."""
        try:
            held = await held_position(self.ctx.venue(plan.account), plan.symbol, plan.side)
        except VenueError as exc:
            raise Refusal("venue_read_failed", error=str(exc)) from None
        if held is None:
            raise Refusal("changed_gone", symbol=plan.symbol, side=plan.side.value,
                          account=plan.account)
        if held.size != plan.old_size:
            raise Refusal("changed_size", size=Contracts(held.size, held.instrument))
        action = await self.ctx.store.create_action(plan.kind.value, plan.account, plan.symbol,
                                                    plan.side.value, origin, plan.to_json(),
                                                    requested_by=requested_by, chat_id=chat_id)
        if message_id is not None:
            await self.ctx.store.update_action(action, message_id=message_id)
        self._held[action] = held
        return action

    async def retry(self, action_id: int, chat_id: int, message_id: int
                    ) -> MaintenanceReport | None:
        """[Retry]: resume the action from its journal, reporting in the message the
        button was pressed in."""
        await self.ctx.store.update_action(action_id, chat_id=chat_id, message_id=message_id)
        return await self.run(action_id)

    async def run(self, action_id: int) -> MaintenanceReport | None:
        """Run or resume a journaled maintenance until all three steps filled or one could
        not; None when the action is unknown or another action holds the position;
        refused when it finished already."""
        ctx = self.ctx
        held = self._held.pop(action_id, None)
        record = await ctx.store.action_with_steps(action_id)
        if record is None:
            return None
        if record.state.value == "done":  # a second [Retry]: counting it again is wrong
            raise Refusal("maintenance_finished", action=action_id)
        plan = MaintenancePlan.from_json(record.plan)
        shown = {"plan": plan, "action": action_id, "chat_id": record.chat_id,
                 "message_id": record.message_id, "requested_by": record.requested_by}
        try:
            with ctx.busy.hold(plan.key):
                report = await self._run(action_id, plan, shown, held)
        except PositionBusy:
            if record.state.value == "planned":  # never started: it will not be
                await ctx.store.update_action(action_id, state="failed", error="position busy")
            # else it is running already (a second [Retry]): that run reports its end
            await ctx.publish(MaintenanceBusy(**shown))
            return None
        await ctx.publish(MaintenanceFinished(report=report, **shown))
        return report

    async def _run(self, action_id: int, plan: MaintenancePlan, shown: dict,
                   held: Position | None) -> MaintenanceReport:
        ctx = self.ctx
        close = ctx.config.rules.close
        runner = MaintenanceRunner(ctx.executor, ctx.store, ctx.venue(plan.account),
                                   close.slippage_pct, float(close.follow_timeout_seconds))
        await ctx.store.update_action(action_id, state="running")

        chain = ProgressChain()

        async def progress(result: MaintenanceResult) -> None:
            now = result.snapshot()  # what this step ended with, whenever it is shown

            async def show() -> None:
                await ctx.publish(MaintenanceProgress(
                    report=await self.report(plan, now, running=True), **shown))

            chain.push(show)

        try:
            result = await runner.run(action_id, plan, progress, held)
        except BaseException:
            chain.cancel()  # stopped: nothing of it is shown any more
            raise
        chain.close()
        if result.done:
            count = await self.count(plan.key) + 1
            await ctx.store.put_rule_state(*plan.key, COUNT_RULE, {"count": count})
            await forget_ladders(ctx, plan.key)  # the new position's fresh ladder
            await ctx.store.update_action(action_id, state="done", result={"count": count})
        else:
            closed = result.steps[CLOSE_OLD].filled_size
            await ctx.store.update_action(action_id, state="partial" if closed else "failed",
                                          error=result.error)
        try:
            return await self.report(plan, result, running=False)
        finally:
            await chain.drain()  # the final report comes after the last progress

    async def report(self, plan: MaintenancePlan, result: MaintenanceResult, *,
                     running: bool) -> MaintenanceReport:
        venue = self.ctx.venue(plan.account)
        held = await held_position(venue, plan.symbol, plan.side)
        return MaintenanceReport(plan, result, await venue.instrument(plan.symbol),
                                 held.size if held else Decimal(0), await self.count(plan.key),
                                 running, held)
