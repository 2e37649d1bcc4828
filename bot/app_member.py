"""This process as a member of a cluster (config `cluster.enabled`, README "A cluster"):
what bot/app.py wires besides the bot itself. Its venues send nothing, and its database
takes no journal write, for an account whose lease it does not hold (bot/cluster.py);
an account taken is taken up as a restart takes it up, and a button press for an account
held elsewhere is handed over (handlers/handoff.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable

from telegram.ext import Application

from bot.cluster import Cluster
from bot.config import Config
from bot.fence import LeaseLost
from bot.ops.ops import Ops
from bot.ops.recovery import Stock
from bot.venues.base import Streaming, Venue
from bot.venues.fenced import FencedVenue
from db.handoffs import Handoffs
from db.leases import Leases, fence_writes
from db.session import Database
from handlers.handoff import Handover
from jobs.loops import schedule_loops
from jobs.scheduler import Jobs

log = logging.getLogger(__name__)


class Member:
    def __init__(self, config: Config, db: Database, venues: dict[str, Venue], *,
                 poll: Callable[[bool], Awaitable[None]]) -> None:
        """`venues`: the bot's, fenced here (use `self.venues`); `poll(on)` starts or
        stops polling Telegram as the lease on it comes and goes."""
        host = socket.gethostname()
        self.name = f"{host}:{os.getpid()}:{secrets.token_hex(2)}"
        self.config, self.db = config, db
        self.leases = Leases(db, self.name, host=host, pid=os.getpid(),
                             seconds=config.cluster.lease_seconds)
        self.cluster = Cluster(self.leases, [a.name for a in config.accounts],
                               gained=self._gained, lost=self._lost, polling=poll,
                               idle=self._idle)
        self.venues: dict[str, Venue] = {
            name: FencedVenue(name, venue, self.cluster)  # type: ignore[misc]
            for name, venue in venues.items()}
        fence_writes(db, self.cluster.epoch_of, self.leases)
        self._account_jobs: dict[str, list[str]] = {}

    def bind(self, jobs: Jobs, ops: Ops, application: Application,  # type: ignore[type-arg]
             watch: Callable[[list[str]], None]) -> Handover:
        """The bot built: its jobs, use cases and Telegram application, and `watch`, which
        streams accounts. Returns what hands button presses over, for the handlers."""
        self._jobs, self._ops, self._application, self._watch = jobs, ops, application, watch
        ops.status.member = self.name
        self.handover = Handover(
            Handoffs(self.db), self.db.url.set(drivername="postgresql").render_as_string(
                hide_password=False), self.cluster.holds, self.cluster.held_accounts,
            ops.control.settings_changed,
            lambda account, user: ops.correction.run(account, now=True, requested_by=user))
        return self.handover

    async def run(self) -> None:
        """Until cancelled: the leases renewed and taken, handed presses taken; then every
        lease given up, for the others to take at once."""
        await asyncio.gather(self.cluster.run(), self.handover.serve(self._application))

    async def _gained(self, accounts: list[str]) -> None:
        """Taken up as a restart takes them up: their unfinished actions resumed from the
        journal (in the background, holding their positions before the loops look), then
        their loops and streams."""
        accounts = [a for a in accounts if a not in self._account_jobs]  # (never twice)
        stock = self._ops.recovery.take_stock(accounts)
        self._application.create_task(self._recover(stock), name="reconcile")
        await asyncio.sleep(0)
        added = schedule_loops(self._jobs, self.config, self._ops, accounts)
        self._account_jobs |= added
        self._jobs.schedule([name for names in added.values() for name in names])
        self._watch(accounts)

    async def _recover(self, stock: Stock) -> None:
        try:
            await self._ops.recovery.run(stock)
        except LeaseLost as lost:  # taken over again meanwhile: the holder resumes it
            log.warning("recovery_lease_lost account=%s", lost.account)

    async def _lost(self, accounts: list[str]) -> None:
        self._jobs.remove([name for a in accounts for name in self._account_jobs.pop(a, [])])
        for account in accounts:  # its new holder streams it
            venue = self.venues[account]
            if isinstance(venue, Streaming):
                try:
                    await venue.unwatch()
                except Exception:  # a stream that ends badly still ends: it reads only
                    log.exception("stream_stop_failed account=%s", account)

    def _idle(self, account: str) -> bool:
        running = (self._jobs.status(name) for name in self._account_jobs.get(account, []))
        return not self._ops.ctx.busy.account_busy(account) and not any(
            status is not None and status.running for status in running)
