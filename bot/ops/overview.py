"""Everything the status page shows, gathered in one place from the ops the chat uses:
the venues' health (`/status`), the positions with their next take-profit tier or why
they are skipped (`/positions`), the jobs, the bot's resting orders (`/orders`) and the
recent events (`/why`). The page and the chat read the same ops, so they show the same
numbers; nothing here is worked out a second time."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bot.config import RuleMode
from bot.ops.context import Context
from bot.ops.orders import Orders, RestingOrder
from bot.ops.positions import AccountPositions, Positions
from bot.ops.status import JobStatus, Status, VenueHealth
from db.records import EventRecord

RECENT_EVENTS = 30


@dataclass(frozen=True, slots=True)
class AccountOverview:
    name: str
    venue: str
    role: str
    take_profit: RuleMode  # on | observe | off on this account
    health: VenueHealth  # its balance, or why the venue did not answer
    positions: AccountPositions  # each with its ladder status, or why they could not be read


@dataclass(frozen=True, slots=True)
class OverviewSnapshot:
    time: datetime
    demo: bool
    paused: bool
    min_margin: Decimal  # take-profit skips positions with margin at or below this
    accounts: list[AccountOverview]
    jobs: list[JobStatus]
    resting_orders: list[RestingOrder]  # oldest first
    events: list[EventRecord]  # newest first


class Overview:
    def __init__(self, ctx: Context, status: Status, positions: Positions,
                 orders: Orders) -> None:
        self.ctx = ctx
        self.status = status
        self.positions = positions
        self.orders = orders

    async def snapshot(self, events: int = RECENT_EVENTS) -> OverviewSnapshot:
        """Never raises for a venue that is down: its account says why instead."""
        ctx = self.ctx
        # The venues are asked at once: a slow one costs its own timeout, not the sum.
        status, held = await asyncio.gather(self.status.snapshot(), self.positions.overview())
        health = {h.account: h for h in status.accounts}
        positions = {p.account: p for p in held}
        accounts = [AccountOverview(a.name, a.venue, a.role, a.rule_mode("take_profit"),
                                    health[a.name], positions[a.name])
                    for a in ctx.config.accounts]
        return OverviewSnapshot(
            time=ctx.clock(), demo=ctx.config.is_demo, paused=status.paused,
            min_margin=ctx.config.rules.take_profit.min_margin, accounts=accounts,
            jobs=status.jobs, resting_orders=await self.orders.resting(),
            events=await ctx.store.recent_events(events))
