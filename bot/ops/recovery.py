"""What a previous run left unfinished, taken up at start (SPEC §8): a maintenance is
resumed from its journal (no filled step runs twice), or offered with [Retry] while the
bot is paused; any other action's orders are looked up by client id, followed to their
end and reported."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

from bot.maintenance import MaintenancePlan
from bot.ops.context import Context
from bot.ops.events import JobFailed, MaintenanceNotResumed, Reconciled
from bot.ops.maintenance import Maintenance
from bot.rules.maintenance import Kind
from db.records import ActionRecord, StepRecord

log = logging.getLogger(__name__)

MAINTENANCE_KINDS = {k.value for k in Kind}


class Recovery:
    def __init__(self, ctx: Context, maintenance: Maintenance) -> None:
        self.ctx = ctx
        self.maintenance = maintenance
        self._steps: list[StepRecord] = []
        self._actions: list[ActionRecord] = []

    def take_stock(self) -> None:
        """What is unfinished now, before any new command could journal a step."""
        self._steps = self.ctx.store.unfinished_steps()
        self._actions = self.ctx.store.unfinished_actions()

    async def run(self) -> None:
        ctx = self.ctx
        maintenance = [a for a in self._actions if a.kind in MAINTENANCE_KINDS]
        if ctx.pause.paused:  # a resume is an automatic action: offer it instead
            for action in maintenance:
                ctx.store.update_action(action.id, state="partial",
                                        error="not resumed: the bot is paused")
                await ctx.publish(MaintenanceNotResumed(
                    plan=MaintenancePlan.from_json(action.plan), action=action.id,
                    chat_id=action.chat_id, requested_by=action.requested_by))
        else:  # together, so each holds its position before any job looks at it
            results = await asyncio.gather(*(self.maintenance.run(a.id) for a in maintenance),
                                           return_exceptions=True)
            for action, result in zip(maintenance, results, strict=True):
                if isinstance(result, Exception):  # the others go on; the next start retries
                    log.error("recovery_failed action=%s", action.id, exc_info=result)
                    await ctx.publish(JobFailed(job=f"recovery of action {action.id}",
                                                problem=f"{type(result).__name__}: {result}"))
        resumed = {a.id for a in maintenance}
        steps = [st for st in self._steps if st.action_id not in resumed]
        if not steps:
            return
        # Every step's own action says its account, whatever state the action is in: a
        # maintenance stopped on an error may still have an order of unknown fate.
        owners = {st.action_id: ctx.store.action_with_steps(st.action_id) for st in steps}
        accounts = {a_id: a.account for a_id, a in owners.items() if a is not None}
        lines = await ctx.executor.reconcile(ctx.venues, steps, accounts)
        for action_id in {step.action_id for step in steps}:
            action = ctx.store.action_with_steps(action_id)
            if action is None or action.state.is_final:
                continue
            if {st.state for st in action.steps} & {"intended", "sent"}:
                continue  # still unknown: the next start looks again
            ctx.store.update_action(action_id, state=self._ended(action))
        await ctx.publish(Reconciled(lines=lines))

    def _ended(self, action: ActionRecord) -> str:
        """How an action whose orders are all settled ended, by what filled of what it
        meant to send (as a close that ran to its end says it: done, partial or failed)."""
        orders = self.ctx.store.orders_for_action(action.id)
        placed = {o.step_id for o in orders}
        meant = sum((o.order.size for o in orders), Decimal(0)) + sum(
            (Decimal(st.params.get("size") or 0) for st in action.steps
             if st.id not in placed), Decimal(0))
        filled = sum((o.order.filled_size for o in orders), Decimal(0))
        return "done" if meant and filled >= meant else "partial" if filled else "failed"
