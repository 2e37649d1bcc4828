"""Issue 17, "Done when": two unmodified bot processes share forty accounts through leases
in a real PostgreSQL server (tests/clusterkit.py). One is SIGKILLed in the middle of a
maintenance: the other takes every account over, finishes the maintenance from the
journal and answers Telegram; one is frozen with SIGSTOP past its lease: resumed, it
sends nothing for the accounts it lost and rejoins."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from decimal import Decimal as D

from bot.domain import Side
from tests.clusterkit import (
    ACCOUNTS,
    APT,
    INTERVAL,
    LEASE_SECONDS,
    UNI,
    UNI_CROSSING,
    cluster,
)

SHARED = 20  # forty accounts, two processes


async def started_and_shared(c) -> None:
    """a first (it takes everything and polls Telegram), then b: half each."""
    await c.start("a")
    await c.until(lambda: len(c.accounts_of("a")) == len(ACCOUNTS), 20, "a took every account")
    await c.start("b")
    await c.until(lambda: len(c.accounts_of("a")) == SHARED == len(c.accounts_of("b")), 20,
                  "the accounts were not shared half and half")


async def test_a_process_killed_in_a_maintenance_is_taken_over_with_nothing_twice(
        tmp_path, postgres):
    async with cluster(tmp_path, postgres) as c:
        await started_and_shared(c)
        # a polls Telegram; b holds the maintained account: the Confirm pressed in a's
        # chat is handed over to b, which runs the maintenance
        assert c.poller() == "a"
        victim, survivor = "b", "a"
        maintained = sorted(c.accounts_of(victim))[-1]
        killed = asyncio.Event()
        kill_at = 0.0

        def kill() -> None:
            nonlocal kill_at
            c.bots[victim].kill()
            kill_at = time.monotonic()
            killed.set()

        c.okx.arm(2, "answered", kill)  # after the open of 600 was answered: step 2 of 3
        await c.command_confirmed(f"/maintain apt {maintained}")
        await asyncio.wait_for(killed.wait(), 40)
        assert c.maintenance_orders(maintained) == [D(60), D(600)]
        assert f"handoff account={maintained}" in c.bots["a"].stderr()
        c.exchange.set_mark(UNI, UNI_CROSSING)  # every account's first tier, now

        await c.until(lambda: len(c.accounts_of(survivor)) == len(ACCOUNTS),
                      LEASE_SECONDS + INTERVAL - (time.monotonic() - kill_at),
                      "the survivor took every account within a lease and an interval")
        print(f"takeover: all {len(ACCOUNTS)} accounts held "
              f"{time.monotonic() - kill_at:.1f} s after the kill")

        # the maintenance finished from the journal, no step twice; each tier fired once
        await c.until(c.journal_settled, 40, "the maintenance never ended")
        await c.until(lambda: all(n == 1 for n in c.tier_closes().values()), 40,
                      "not every account's first tier fired")
        await asyncio.sleep(2 * INTERVAL)  # the loops' next runs: nothing again
        assert c.maintenance_orders(maintained) == [D(60), D(600), D(552)]
        assert set(c.tier_closes().values()) == {1}
        assert [key for key, n in c.okx.real_orders().items() if n > 1] == []
        assert [(p.symbol, p.side, p.size) for p in c.exchange.positions(maintained)
                if p.symbol == APT] == [(APT, Side.LONG, D(48))]


async def test_a_process_frozen_past_its_lease_sends_nothing_for_what_it_lost(
        tmp_path, postgres):
    async with cluster(tmp_path, postgres) as c:
        await started_and_shared(c)
        frozen, survivor = "a", "b"
        target = sorted(c.accounts_of(frozen))[0]
        reads = Counter()
        stopped = asyncio.Event()

        def on_positions(account: str) -> None:
            """The target's run: its one read sees the tier crossed; the read that checks
            the position is unchanged before the close is where the process freezes,
            its decision taken, the order not sent."""
            if account != target or stopped.is_set():
                return
            reads[account] += 1
            if reads[account] == 1:
                c.exchange.set_mark(UNI, UNI_CROSSING)
            elif reads[account] == 2:
                c.signal(frozen, signal.SIGSTOP)
                stopped.set()

        c.okx.on_positions = on_positions
        await asyncio.wait_for(stopped.wait(), 20)
        await c.until(lambda: len(c.accounts_of(survivor)) == len(ACCOUNTS),
                      LEASE_SECONDS + INTERVAL + 1, "the survivor took every account")
        await c.until(lambda: c.tier_closes()[target] == 1, 10, "the survivor fired the tier")
        c.signal(frozen, signal.SIGCONT)
        await c.until(lambda: "leases_lost" in c.bots[frozen].stderr(), 10,
                      "the resumed process never heard it lost its leases")
        await asyncio.sleep(INTERVAL)  # its close, had it gone out, would be at the venue
        assert c.tier_closes()[target] == 1
        # (it did try: the close was stopped at the fence)
        assert "job_lease_lost name=take_profit:" + target in c.bots[frozen].stderr()
        # and it rejoins: the survivor gives half the accounts back
        await c.until(lambda: len(c.accounts_of(frozen)) == SHARED, 20, f"{frozen} rejoined")
        await c.until(lambda: all(n == 1 for n in c.tier_closes().values()), 40,
                      "not every account's first tier fired")
        await asyncio.sleep(2 * INTERVAL)
        assert c.tier_closes()[target] == 1  # the frozen process's close never went out
        assert set(c.tier_closes().values()) == {1}
        assert [key for key, n in c.okx.real_orders().items() if n > 1] == []


async def test_the_poller_speaks_for_the_cluster_and_fails_over_within_ten_seconds(
        tmp_path, postgres):
    async with cluster(tmp_path, postgres) as c:
        await started_and_shared(c)
        assert c.poller() == "a"
        # /status: who holds what
        await c.answer("/status", "Cluster", timeout=10)
        members = c.said("Cluster").split("Cluster (the processes sharing the accounts):\n")[1]
        assert [line.split(":", 2)[1] for line in members.splitlines()] == [
            c.pid("a"), c.pid("b")]
        assert members.splitlines()[0].endswith(
            ": 20 accounts, polls Telegram (this process)")
        assert members.splitlines()[1].endswith(": 20 accounts")
        # /pause in a's chat stops b's accounts too
        await c.answer("/pause", "Paused", timeout=10)
        await asyncio.sleep(0.5)  # b hears of it (NOTIFY)
        c.exchange.set_mark(UNI, UNI_CROSSING)
        await asyncio.sleep(3 * INTERVAL)
        assert set(c.tier_closes().values()) == {0}
        await c.answer("/resume", "Resumed", timeout=10)
        await c.until(lambda: all(n == 1 for n in c.tier_closes().values()), 10,
                      "not every account's first tier fired after the resume")
        # the poller killed: b answers within 10 s
        c.bots["a"].kill()
        killed = time.monotonic()
        await c.answer("/positions", "Positions —", timeout=10)
        answered = time.monotonic() - killed
        assert c.poller() == "b"
        print(f"poller failover: /positions answered {answered:.1f} s after the kill")
