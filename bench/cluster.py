"""Accounts served by a cluster (issue 17): 1, 2 and 4 unmodified `bot.py` processes with
`cluster.enabled` on one PostgreSQL server (Debian's, started here as the tests start it:
tests/pgserver.py), sharing OKX accounts on the fake OKX server, which answers every
request after LATENCY. An account is *served* when its take-profit loop kept time over
the measured window (from SETTLE_SECONDS after the accounts were shared out): its
position reads came at most 1.2 s apart (p99) at a 1 s interval, and none was missing.
Prints, per run, the accounts each process holds and serves, and the total.

    .venv/bin/python -m bench.cluster [accounts] [latency_ms] [seconds] [processes…]

Without arguments: 300 accounts × 2 positions at 100 ms for 20 s, with 1, 2 and 4
processes. (On a 2-core machine the processes, PostgreSQL and the fake server share two
cores: the figures say how the work divides, not what a desk of machines would serve.)
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from bench.okx_bot import Running, TimedOkxServer, exchange_for, p99, write_config
from tests.fakes.okx_server import Credentials
from tests.fakes.telegram_server import FakeTelegramServer
from tests.pgserver import PostgresServer

INTERVAL = 1
LEASE_SECONDS = 10
SERVED_P99 = 1.2  # seconds between two position reads of one account
POSITIONS_PATH = "/api/v5/account/positions"
SHARED_TIMEOUT = 120.0  # for the accounts to be taken and shared out
# After the share-out, before measuring: the accounts just taken up make their first runs,
# which write their first records (position log, ladders) all at once.
SETTLE_SECONDS = 10.0


def holders(dsn: str) -> dict[str, str]:
    """Account -> the pid of the process holding its lease now."""
    with psycopg.connect(dsn) as db:
        if db.execute("SELECT to_regclass('leases')").fetchone() == (None,):
            return {}
        rows = db.execute("SELECT name, holder FROM leases WHERE expires_at > now() "
                          "AND name LIKE 'account:%'").fetchall()
    return {name.removeprefix("account:"): holder.split(":")[1] for name, holder in rows}


async def measure(server: PostgresServer, accounts: int, processes: int, latency: float,
                  seconds: float) -> dict[str, tuple[int, int]]:
    """pid -> (accounts held, accounts served)."""
    exchange, keys = exchange_for(accounts, 2)
    exchange.faults.latency_seconds = latency
    credentials = {key: Credentials(f"secret-{name}", f"pass-{name}")
                   for key, name in keys.items()}
    url = server.new_database(migrated=False)
    dsn = url.replace("+psycopg", "")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        async with TimedOkxServer(exchange, keys, credentials=credentials) as okx, \
                FakeTelegramServer() as telegram:
            config = write_config(folder, okx.base_url, telegram, keys, interval=INTERVAL,
                                  streams=False, database_url=url,
                                  lease_seconds=LEASE_SECONDS)
            bots = []
            for n in range(processes):
                (folder / str(n)).mkdir()
                bots.append(Running(okx, telegram, config, folder / str(n)))
                await bots[-1].start()
            try:
                deadline = time.monotonic() + SHARED_TIMEOUT
                share = -(-accounts // processes)
                while True:
                    held = holders(dsn)
                    counts = [sum(1 for pid in held.values() if pid == str(b.process.pid))
                              for b in bots if b.process is not None]
                    if len(held) == accounts and max(counts) <= share:
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"not shared out in {SHARED_TIMEOUT:g} s: {counts}")
                    await asyncio.sleep(0.2)
                await asyncio.sleep(SETTLE_SECONDS)
                began = time.monotonic()
                await asyncio.sleep(seconds)
                ended = time.monotonic()
                held = holders(dsn)
            finally:
                for bot in bots:
                    await bot.stop()
    name_of = dict(zip(keys.values(), keys, strict=True))  # account -> its API key
    result: dict[str, tuple[int, int]] = {}
    for account, pid in held.items():
        times = [t for t in okx.arrivals[(POSITIONS_PATH, name_of[account])]
                 if began <= t <= ended]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        enough = len(times) >= seconds / INTERVAL * 0.9
        served = enough and p99(gaps) <= SERVED_P99
        total, ok = result.get(pid, (0, 0))
        result[pid] = (total + 1, ok + served)
    return result


def report(accounts: int, latency_ms: int, seconds: float, runs: list[int]) -> None:
    print(f"{accounts} OKX accounts × 2 positions, {latency_ms} ms latency, take-profit "
          f"every {INTERVAL} s, {seconds:g} s measured; served: reads ≤ {SERVED_P99:g} s "
          f"apart (p99)")
    server = PostgresServer().start()
    try:
        for processes in runs:
            result = asyncio.run(measure(server, accounts, processes, latency_ms / 1000,
                                         seconds))
            per = ", ".join(f"{served} of {held}" for held, served in
                            sorted(result.values(), reverse=True))
            total = sum(served for _, served in result.values())
            print(f"  {processes} process{'es' if processes > 1 else ''}: {total} served "
                  f"of {accounts} (per process: {per})")
    finally:
        server.stop()


def main() -> None:
    args = [int(a) for a in sys.argv[1:]]
    accounts, latency_ms, seconds = (args + [300, 100, 20][len(args):])[:3]
    report(accounts, latency_ms, seconds, args[3:] or [1, 2, 4])


if __name__ == "__main__":
    main()
