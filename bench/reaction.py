"""Reaction: from a take-profit tier crossed (the mark set at the fake OKX server) to the
close order arriving there, with every REST answer and every websocket push LATENCY late.
The bot is unmodified, in its own process; one account holds longs on ten coins, and the
bench walks each through its three tiers (30 crossings), pausing a random part of a
second between crossings so they fall anywhere in the poll's cycle.

    .venv/bin/python -m bench.reaction [latency_ms] [crossings]

Two runs: with streams (the take-profit poll at its default 10 s, so the stream is what
reacts) and on polling alone (streams off, the poll every 1 s). Targets (issue 16): p99 at
most 300 ms with streams at 50 ms, at most 1.2 s on polling alone.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from decimal import Decimal as D

from bench.okx_bot import bot_against, coins, exchange_for, p99

ORDER_PATH = "/api/v5/trade/order"
KEY = "key-acct000"
# 10 contracts at 5 USDT and 10x: the default long ladder's 25%, 35% and 50% are crossed
# at these marks (+26%, +36%, +51%)
TIER_MARKS = (D("5.13"), D("5.18"), D("5.255"))
RUNS = (("streams", True, 10.0, 0.3), ("polling alone", False, 1.0, 1.2))


async def measure(streams: bool, interval: float, latency: float, crossings: int
                  ) -> list[float]:
    exchange, keys = exchange_for(1, (crossings + 2) // 3, longs_only=True)
    symbols = coins((crossings + 2) // 3)
    exchange.faults.latency_seconds = latency
    pace = random.Random(16)
    reactions: list[float] = []
    async with bot_against(exchange, keys, interval=interval, streams=streams) as bot:
        await bot.answer_to("/positions", "Positions —")  # serving, every account read once
        await asyncio.sleep(2.0)  # the streams connected and subscribed
        sent = bot.okx.arrivals[(ORDER_PATH, KEY)]
        for n in range(crossings):
            symbol, tier = symbols[n % len(symbols)], n // len(symbols)
            await asyncio.sleep(pace.uniform(0.3, 1.3))
            before, crossed = len(sent), time.monotonic()
            exchange.set_mark(symbol, TIER_MARKS[tier])
            deadline = crossed + 10
            while len(sent) == before and time.monotonic() < deadline:
                await asyncio.sleep(0.002)
            if len(sent) == before:
                raise RuntimeError(f"no close order within 10 s of crossing {n + 1}")
            reactions.append(sent[before] - crossed)
    return reactions


def main() -> None:
    latency_ms = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    crossings = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    for label, streams, interval, target in RUNS:
        reactions = asyncio.run(measure(streams, interval, latency_ms / 1000, crossings))
        ordered = sorted(reactions)
        print(f"reaction, tier crossed -> close order at the venue, {label} "
              f"(poll every {interval:g} s), {latency_ms} ms latency, "
              f"{len(reactions)} crossings: p50 {ordered[len(ordered) // 2] * 1000:.0f} ms, "
              f"p99 {p99(reactions) * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms "
              f"(target p99 {target * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
