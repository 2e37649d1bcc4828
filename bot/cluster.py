"""Several bot processes on one PostgreSQL database share the accounts (`cluster.enabled`):
each account's rule jobs, streams, recovery and journaled actions run in the one process
holding its lease, and one process polls Telegram (db/leases.py keeps the leases).

Every `RENEW_FRACTION` of a lease this process renews what it holds and takes free or
expired leases up to its share; what it gains it takes up as a restart would (the
unfinished actions of those accounts resumed from the journal, then their jobs), what it
loses it stops at once. Beyond its share (a member joined) it gives up accounts with
nothing in flight, for the newcomer to take.

Fencing: a lease counts here only until `LEASE_TRUST` of its length after the renewal
that extended it *began* (by this machine's monotonic clock, which runs on while the
process is stopped); past that, a send first renews (`ensure`), so a process resumed after
a pause past its lease learns it lost the account before it sends anything, and a process
merely slow to renew goes on. Its journal writes check holder and epoch in the database
itself (db.leases.fence_writes). An account lost with an action of this process still
on it is not taken back before that action ended (at its next send or write, fenced):
taking it back resumes the action from the journal, which must not run twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from bot.fence import LeaseLost
from db.leases import ACCOUNT, TELEGRAM, Leases, account_lease

log = logging.getLogger(__name__)

# Renewed four times per lease: one failed renewal loses nothing, and a lease that ran out
# is taken within a quarter of a lease (lease_seconds + 1 s at the tests' 4 s).
RENEW_FRACTION = 1 / 4
LEASE_TRUST = 0.8  # of a lease from the start of the renewal that extended it

Changed = Callable[[list[str]], Awaitable[None]]


class Cluster:
    def __init__(self, leases: Leases, accounts: list[str], *, gained: Changed, lost: Changed,
                 polling: Callable[[bool], Awaitable[None]], idle: Callable[[str], bool]) -> None:
        """`gained`/`lost`: accounts this process now acts for / must stop acting for;
        `polling(True/False)`: start or stop polling Telegram; `idle(account)`: nothing
        of the account's in flight, so it can be given up."""
        self.leases = leases
        self.accounts = accounts
        self.seconds = leases.seconds
        self._gained, self._lost, self._polling, self._idle = gained, lost, polling, idle
        self.held: dict[str, int] = {}  # lease name -> epoch taken with
        self._trusted_until = 0.0  # monotonic
        self._ticking = asyncio.Lock()  # one renewal at a time, the loop's or a send's
        self._winding: set[str] = set()  # held, loops stopped, to be given up once idle
        self._taking: set[str] = set()  # held, to be taken up once idle

    # -- the fence (bot/fence.py) --------------------------------------------------------

    async def ensure(self, account: str) -> None:
        if account_lease(account) in self.held and time.monotonic() < self._trusted_until:
            return
        await self.tick()  # no longer certain: ask the database
        if account_lease(account) not in self.held or time.monotonic() >= self._trusted_until:
            raise LeaseLost(account)

    def epoch_of(self, account: str) -> int | None:
        return self.held.get(account_lease(account))

    def holds(self, account: str) -> bool:
        return account_lease(account) in self.held

    def held_accounts(self) -> list[str]:
        return [n.removeprefix(ACCOUNT) for n in self.held if n.startswith(ACCOUNT)]

    # -- renewing ------------------------------------------------------------------------

    async def run(self) -> None:
        """Renew until cancelled; then give every lease up for the others to take."""
        await asyncio.to_thread(self.leases.ensure,
                                [*map(account_lease, self.accounts), TELEGRAM])
        period = self.seconds * RENEW_FRACTION
        try:
            while True:  # at a fixed rate: the time a renewal took is not added to the next
                began = time.monotonic()
                await self.tick()
                await asyncio.sleep(max(0.0, period - (time.monotonic() - began)))
        finally:
            await self._drop(list(self.held))
            await asyncio.to_thread(self.leases.leave)

    async def tick(self) -> None:
        if self._ticking.locked():  # a renewal is under way: its answer is this one's
            async with self._ticking:
                return
        async with self._ticking:
            await self._tick()

    async def _tick(self) -> None:
        began = time.monotonic()
        # (an account this process lost while acting on it: not taken back until idle)
        busy = [a for a in self.accounts if not self.holds(a) and not self._idle(a)]
        try:
            tick = await asyncio.to_thread(self.leases.tick, self.accounts, telegram=True,
                                           not_now=busy)
        except Exception:  # the database out of reach: the leases run out by themselves
            log.exception("lease_renewal_failed")
            if time.monotonic() >= self._trusted_until:
                await self._drop(list(self.held))
            return
        # Lost: not renewed; or expired before this renewal and taken again by it (a new
        # epoch: what this process was doing there is over, as for any lost account).
        await self._drop([name for name in self.held
                          if name not in tick.held or name in tick.taken])
        self.held = dict(tick.held)
        self._trusted_until = began + self.seconds * LEASE_TRUST
        await self._share_out(tick.share)
        self._taking |= {n for n in tick.taken if n.startswith(ACCOUNT) and n in self.held}
        # taken up once nothing of this process's runs on them any more (a lost action
        # ends at its next send or write); the journal has the rest
        gained = sorted(n for n in self._taking if self._idle(n.removeprefix(ACCOUNT)))
        self._taking -= set(gained)
        if gained:
            log.info("leases_gained accounts=%s", ",".join(n.removeprefix(ACCOUNT)
                                                           for n in gained))
            await self._gained([n.removeprefix(ACCOUNT) for n in gained])
        if TELEGRAM in tick.taken:
            log.info("lease_gained telegram")
            await self._polling(True)

    async def _share_out(self, share: int) -> None:
        """Beyond its share (a member joined), this process gives accounts up: those with
        nothing running at once; for the rest, their loops stop now and the lease goes
        once nothing of theirs runs (a busy process would otherwise never shed any). An
        account wanted again before that (a member left) starts its loops again."""
        mine = sorted(name for name in self.held if name.startswith(ACCOUNT))
        surplus = max(0, len(mine) - share)
        give = [n for n in reversed(mine) if self._idle(n.removeprefix(ACCOUNT))][:surplus]
        if give:
            await self._drop(give, given_up=True)
            await asyncio.to_thread(self.leases.release, give)
        rest = [n for n in reversed(mine) if n not in give and n not in self._taking][
            :surplus - len(give)]
        stopping = [n.removeprefix(ACCOUNT) for n in rest if n not in self._winding]
        if stopping:
            log.info("leases_winding_down accounts=%s", ",".join(stopping))
            await self._lost(stopping)
        back = [n for n in self._winding if n not in rest and n in self.held]
        ready = [n for n in back if self._idle(n.removeprefix(ACCOUNT))]
        self._winding = set(rest) | (set(back) - set(ready))
        if ready:
            await self._gained([n.removeprefix(ACCOUNT) for n in ready])

    async def _drop(self, names: list[str], *, given_up: bool = False) -> None:
        for name in names:
            self.held.pop(name, None)
            self._winding.discard(name)
            self._taking.discard(name)
        accounts = [n.removeprefix(ACCOUNT) for n in names if n.startswith(ACCOUNT)]
        if accounts:
            if given_up:
                log.info("leases_given_up accounts=%s", ",".join(accounts))
            else:
                log.warning("leases_lost accounts=%s", ",".join(accounts))
            await self._lost(accounts)
        if TELEGRAM in names:
            log.warning("lease_lost telegram")
            await self._polling(False)
