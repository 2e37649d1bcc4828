"""The take-profit and hedge rules over 10,000 positions (target: at most 20 ms), and the
venue calls one run of the job makes per account when nothing fires (target: 1).

    .venv/bin/python -m bench.rules
"""

from __future__ import annotations

import asyncio
import random
import time
from decimal import Decimal

from bot.config import demo_config
from bot.domain import Position, Side
from bot.rules.hedge import hedge
from bot.rules.take_profit import Tier, take_profit
from bot.venues.paper.demo import INSTRUMENTS, MARKS

POSITIONS = 10_000
LADDERS = {Side.LONG: [Tier(Decimal(25), Decimal(30)), Tier(Decimal(35), Decimal(50)),
                       Tier(Decimal(50), Decimal(50))],
           Side.SHORT: [Tier(Decimal(35), Decimal(30)), Tier(Decimal(45), Decimal(50)),
                        Tier(Decimal(55), Decimal(50))]}


def positions() -> list[Position]:
    rng = random.Random(5)
    result = []
    for n in range(POSITIONS // 2):
        inst = INSTRUMENTS[n % len(INSTRUMENTS)]
        account = f"acct{n // len(INSTRUMENTS)}"
        for side in Side:
            mark = MARKS[inst.symbol]
            rate = Decimal(rng.randint(-6000, 6000)) / 100
            result.append(Position(account, inst, side, inst.min_size * rng.randint(1, 500),
                                   mark, mark, Decimal(rng.randint(50, 5000)) / 100,
                                   Decimal(10), Decimal(0), rate))
    return result


def time_rules(held: list[Position]) -> float:
    fired = {p.key: (hash(p.key) % 3) for p in held}
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        take_profit(held, fired, lambda p: LADDERS[p.side], Decimal(1))
        hedge(held, Decimal(1), Decimal(1))
        best = min(best, time.perf_counter() - start)
    return best


class CountingVenue:
    """A paper venue that counts what the job asks of it."""

    def __init__(self, venue) -> None:
        self.venue, self.calls = venue, []

    def __getattr__(self, name):
        attr = getattr(self.venue, name)
        if not callable(attr):
            return attr

        async def counted(*args, **kwargs):
            self.calls.append(name)
            return await attr(*args, **kwargs)
        return counted


async def venue_calls_per_run() -> dict[str, list[str]]:
    import tempfile

    from bot.execution import Executor
    from bot.ops.close import Closing
    from bot.ops.context import Context
    from bot.ops.followups import Followups
    from bot.ops.take_profit import TakeProfit
    from bot.venues.paper import PaperVenue, open_paper_exchange
    from db import Database, Store
    from db.aio import AsyncStore

    config = demo_config()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        db.migrate()
        store = Store(db)
        ex = open_paper_exchange(None, [("main", "main"), ("sub1", "sub")], demo_portfolio=True)
        ex.market.freeze()
        venues = {a.name: CountingVenue(PaperVenue(ex, a.name)) for a in config.accounts}
        executor = Executor(AsyncStore(store), client_prefix="bench")
        ctx = Context.build(config, store, venues, executor, _now)
        # no front subscribed: a benchmark sends no alerts
        rules = TakeProfit(ctx, Closing(ctx, Followups(ctx)))
        calls = {}
        for account in config.accounts:
            venue = venues[account.name]
            # The demo fires a few tiers first (one per position a run); once a run sends
            # nothing, the next run shows what a quiet run costs.
            for _ in range(10):
                venue.calls.clear()
                await rules.run(account.name)
                if "place_order" not in venue.calls:
                    break
            venue.calls.clear()
            await rules.run(account.name)
            calls[account.name] = list(venue.calls)
        db.dispose()
    return calls


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def main() -> None:
    held = positions()
    seconds = time_rules(held)
    print(f"rules over {len(held)} positions: {seconds * 1000:.1f} ms (target <= 20 ms)")
    for account, calls in asyncio.run(venue_calls_per_run()).items():
        print(f"venue calls per run, account {account}: {len(calls)} ({', '.join(calls)}) "
              "(target 1)")


if __name__ == "__main__":
    main()
