"""The position log: each run compares an account's positions with what the last run saw
and records every difference as an event, so `/why` and `/history` can tell what
happened, including changes made outside the bot (by hand, by liquidation)."""

from __future__ import annotations

from decimal import Decimal

from bot.ops.context import Context
from bot.ops.events import PositionChanged

RULE = "position_log"


class PositionLog:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def run(self, account: str) -> None:
        store = self.ctx.store
        held = {(p.symbol, p.side.value): p for p in await self.ctx.venue(account).positions()}
        seen = {(r.symbol, r.side): r.state for r in store.rule_states(account=account,
                                                                        rule=RULE)}
        for (symbol, side), pos in held.items():
            before = seen.get((symbol, side))
            now = {"size": str(pos.size), "entry": str(pos.entry_price)}
            if before == now:
                continue
            old = None if before is None else Decimal(before["size"])
            change = ("opened" if old is None else "increased" if pos.size > old else
                      "reduced" if pos.size < old else "entry_changed")
            await self.ctx.publish(PositionChanged(where=(account, symbol, side), change=change,
                                                   before=before, after=now))
            store.put_rule_state(account, symbol, side, RULE, now)
        for (symbol, side), before in seen.items():
            if (symbol, side) not in held:
                await self.ctx.publish(PositionChanged(where=(account, symbol, side),
                                                       change="closed", before=before))
                store.delete_rule_state(account, symbol, side, RULE)
