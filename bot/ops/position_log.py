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
        seen = {(r.symbol, r.side): r.state
                for r in await store.rule_states(account=account, rule=RULE)}
        changes: list[PositionChanged] = []
        states: dict[tuple[str, str], dict[str, str] | None] = {}
        for (symbol, side), pos in held.items():
            before = seen.get((symbol, side))
            now = {"size": str(pos.size), "entry": str(pos.entry_price)}
            if before == now:
                continue
            old = None if before is None else Decimal(before["size"])
            change = ("opened" if old is None else "increased" if pos.size > old else
                      "reduced" if pos.size < old else "entry_changed")
            changes.append(PositionChanged(where=(account, symbol, side), change=change,
                                           before=before, after=now))
            states[(symbol, side)] = now
        for (symbol, side), before in seen.items():
            if (symbol, side) not in held:
                changes.append(PositionChanged(where=(account, symbol, side),
                                               change="closed", before=before))
                states[(symbol, side)] = None
        # One transaction for the events, one for the states: a first run over 1,000
        # positions was 2,000 commits that held the rule loops up for seconds (issue 16).
        # The events first: a run that stops between the two tells them again, never
        # forgets one.
        if changes:
            await self.ctx.publish_all(changes)
            await store.put_rule_states(account, RULE, states)
