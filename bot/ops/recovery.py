"""What a previous run left unfinished, taken up at start (SPEC §8): a maintenance is
resumed from its journal (no filled step runs twice), or offered with [Retry] while the
bot is paused; a correction is resumed from its journal (paused: ended where it stands,
its margin moves decided by the venue's margin, by the first run after the resume); a
grid's resting orders are its job's to look at; any other action's orders are looked up
by client id, followed to their end and reported."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from bot.maintenance import MaintenancePlan
from bot.ops.context import Context
from bot.ops.correction import KIND as CORRECTION
from bot.ops.correction import Correction
from bot.ops.events import JobFailed, MaintenanceNotResumed, Reconciled
from bot.ops.followups import Followups, settle
from bot.ops.grid import KIND as GRID
from bot.ops.maintenance import Maintenance
from bot.rules.maintenance import Kind
from db.records import ActionRecord, StepRecord

log = logging.getLogger(__name__)

MAINTENANCE_KINDS = {k.value for k in Kind}


@dataclass(frozen=True, slots=True)
class Stock:
    steps: list[StepRecord]
    actions: list[ActionRecord]


class Recovery:
    def __init__(self, ctx: Context, maintenance: Maintenance, correction: Correction,
                 followups: Followups) -> None:
        self.ctx = ctx
        self.maintenance = maintenance
        self.correction = correction
        self.followups = followups

    def take_stock(self, accounts: Collection[str] | None = None) -> Stock:
        """What is unfinished now (of `accounts`: those a cluster member just took over),
        before any new command could journal a step: read on the event loop on purpose,
        nothing else runs in between (a few short reads, once per start or takeover)."""
        store = self.ctx.store.sync
        steps = store.unfinished_steps()
        actions = store.unfinished_actions()
        if accounts is not None:
            actions = [a for a in actions if a.account in accounts]
            owner = {a_id: store.action_with_steps(a_id)
                     for a_id in {st.action_id for st in steps}}
            steps = [st for st in steps if (a := owner[st.action_id]) is not None
                     and a.account in accounts]
        return Stock(steps, actions)

    async def run(self, stock: Stock) -> None:
        ctx = self.ctx
        maintenance = [a for a in stock.actions if a.kind in MAINTENANCE_KINDS]
        corrections = [a for a in stock.actions if a.kind == CORRECTION]
        if ctx.pause.paused:  # a resume is an automatic action: offer it instead
            for action in maintenance:
                await ctx.store.update_action(action.id, state="partial",
                                              error="not resumed: the bot is paused")
                await ctx.publish(MaintenanceNotResumed(
                    plan=MaintenancePlan.from_json(action.plan), action=action.id,
                    chat_id=action.chat_id, requested_by=action.requested_by))
            resumed = {a.id for a in maintenance}
            await self._together(self.correction.stand_still, corrections)
        else:  # together, so each holds its position before any job looks at it
            resumed = {a.id for a in maintenance + corrections}
            await self._together(self._resume, maintenance + corrections)
        resumed |= {a.id for a in stock.actions if a.kind == GRID}  # the grid job's own
        others = [a for a in stock.actions
                  if a.kind not in MAINTENANCE_KINDS and a.id not in resumed]
        for action in others:  # orders it planned but never began to send
            for step in action.steps:
                if step.state == "planned":
                    await ctx.store.update_step(step.id, state="skipped",
                                                error_message="never sent: the bot stopped first")
        # (a correction's leverage and margin steps, decided above, have no order)
        steps = [st for st in stock.steps if st.action_id not in resumed
                 and not (st.client_id is None and st.action_id in {a.id for a in corrections})]
        if not steps:
            for action in others:  # no order to look up: nothing told yet
                await settle(ctx, action.id)
            return
        # Every step's own action says its account, whatever state the action is in: a
        # maintenance stopped on an error may still have an order of unknown fate.
        owners = {st.action_id: await ctx.store.action_with_steps(st.action_id) for st in steps}
        accounts = {a_id: a.account for a_id, a in owners.items() if a is not None}
        lines = await ctx.executor.reconcile(ctx.venues, steps, accounts,
                                             self.followups.adopt)
        await ctx.publish(Reconciled(lines=lines))
        for action_id in sorted({step.action_id for step in steps} | {a.id for a in others}):
            # told in the alert above; those still open end when their last order does
            await settle(ctx, action_id, push=False)

    async def _resume(self, action_id: int) -> object:
        record = await self.ctx.store.action_with_steps(action_id)
        if record is not None and record.kind == CORRECTION:
            return await self.correction.resume(action_id)
        return await self.maintenance.run(action_id)

    async def _together(self, take_up: Callable[[int], Awaitable[object]],
                        actions: list[ActionRecord]) -> None:
        results = await asyncio.gather(*(take_up(a.id) for a in actions),
                                       return_exceptions=True)
        for action, result in zip(actions, results, strict=True):
            if isinstance(result, Exception):  # the others go on; the next start retries
                log.error("recovery_failed action=%s", action.id, exc_info=result)
                await self.ctx.publish(JobFailed(job=f"recovery of action {action.id}",
                                                 problem=f"{type(result).__name__}: {result}"))
