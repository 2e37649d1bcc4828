"""`/maintain` from Confirm to the final report, the whole bot through the local chat
against the fake OKX server answering every request after LATENCY seconds (target: at
most 14 requests, at most 1 s at 50 ms). Prints the requests the maintenance made, in
order, and the wall time.

    .venv/bin/python -m bench.maintain_latency [latency_ms]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from decimal import Decimal as D
from pathlib import Path

from bot.domain import Side
from bot.venues.paper.demo import new_exchange
from tests.botkit import FAST_FOLLOW, PAPER_EMPTY, make_config, running
from tests.fakes.okx_accounts import CREDENTIALS, KEYS
from tests.fakes.okx_server import FakeOkxServer

APT = "APT-USDT-SWAP"
TARGET_REQUESTS, TARGET_SECONDS = 14, 1.0


async def measure(latency: float) -> tuple[list[str], float]:
    """The requests between Confirm and the final report, and the seconds it took."""
    exchange = new_exchange()
    exchange.market.freeze()
    exchange.add_account("main", D("2000"))
    exchange.add_account("sub1", D("330"))
    exchange.seed_position("sub1", APT, Side.LONG, D("60"), D("5"), D("10"))
    exchange.set_mark(APT, D("5"))
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeOkxServer(exchange, KEYS, credentials=CREDENTIALS) as server:
            # no watcher: its runs would add their requests to the maintenance's
            config = make_config(Path(tmp), okx_url=server.base_url, paper=PAPER_EMPTY,
                                 close=FAST_FOLLOW, rules={"watcher": "off"})
            async with running(config) as (app, chat):
                assert chat is not None
                await first_runs_over(app)
                await chat.ask("/maintain APT sub1")
                exchange.faults.latency_seconds = latency
                mark = len(server.requests)
                started = time.perf_counter()
                said = await chat.choose("Confirm", timeout=30)
                seconds = time.perf_counter() - started
                paths = [f"{r.method} {r.path}" for r in server.requests[mark:]]
                exchange.faults.latency_seconds = 0.0
    assert said and said[-1].startswith("🔧 Maintenance of"), said
    return paths, seconds


async def first_runs_over(app) -> None:
    """The jobs' first runs (the position log reads every account) are let pass before
    Confirm: their requests are not the maintenance's."""
    while not all(s.last_start for s in app.jobs.statuses()):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)


def main() -> None:
    latency_ms = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    paths, seconds = asyncio.run(measure(latency_ms / 1000))
    print(f"/maintain at {latency_ms} ms latency, Confirm to final report")
    print(f"requests: {len(paths)} (target {TARGET_REQUESTS})")
    print(f"wall time: {seconds:.2f} s (target {TARGET_SECONDS:.2f} s)")
    for n, path in enumerate(paths, 1):
        print(f"  {n:2}. {path}")


if __name__ == "__main__":
    main()
