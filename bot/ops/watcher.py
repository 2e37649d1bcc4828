"""The maintenance watcher on one account (SPEC §5): positions that fell to
`rules.maintenance.watcher.loss_pct` are told about with [Maintain] [Super maintain]
[Skip] (`ask`) or get a super maintenance on the ladder at once (`auto`); at most once
per position per cooldown, remembered in the database so a restart does not repeat it."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.config import WatcherMode
from bot.domain import Position
from bot.ops.context import Context
from bot.ops.events import WatcherAlerted, WatcherAutoRefused
from bot.ops.maintenance import Maintenance
from bot.ops.refusal import Refusal
from bot.rules.maintenance import Kind
from bot.rules.watcher import due_alerts

RULE = "watcher"


class Watcher:
    def __init__(self, ctx: Context, maintenance: Maintenance) -> None:
        self.ctx = ctx
        self.maintenance = maintenance

    async def run(self, account_name: str) -> None:
        ctx = self.ctx
        settings = ctx.config.rules.maintenance.watcher
        mode = ctx.config.account(account_name).rules.watcher
        positions = list(await ctx.venue(account_name).positions())
        last = {}
        for record in await ctx.store.rule_states(account=account_name, rule=RULE):
            for p in positions:
                if (p.symbol, p.side.value) == (record.symbol, record.side):
                    last[p.key] = datetime.fromisoformat(record.state["alerted_at"])
        now = ctx.clock()
        idle = [p for p in positions if (account_name, p.symbol, p.side.value) not in ctx.busy]
        for position in due_alerts(idle, settings.loss_pct, last, now,
                                   timedelta(seconds=settings.cooldown_seconds)):
            await ctx.store.put_rule_state(account_name, position.symbol, position.side.value, RULE,
                                           {"alerted_at": now.isoformat()})
            await ctx.publish(WatcherAlerted(position=position, mode=mode.value,
                                             loss_pct=settings.loss_pct))
            if mode is WatcherMode.AUTO:
                await self._auto(position)

    async def _auto(self, position: Position) -> None:
        """A super maintenance at once, on the ladder; past its end only a human may."""
        try:
            planned = await self.maintenance.plan(Kind.SUPER, position)
            if planned.past_ladder:
                raise Refusal("past_ladder_auto", count=planned.plan.count)
            action = await self.maintenance.start(planned.plan, origin="rule")
        except Refusal as exc:
            await self.ctx.publish(WatcherAutoRefused(position=position, refusal=exc))
            return
        await self.maintenance.run(action)
