"""Many OKX accounts in one bot process: `python bot.py --config FILE` (unmodified, its own
process) against the fake OKX server answering every request after LATENCY, and the fake
Telegram Bot API server. Prints, against issue 16's targets:

- the first answer: seconds from the process start to its answer to `/positions`;
- the next `/positions` (every account read again): seconds, and round trips of LATENCY;
- skipped and late take-profit runs (the bot's own counts, from `/status`);
- the p99 interval between two position reads of one account (at the server);
- the bot's peak RSS.

    .venv/bin/python -m bench.many_accounts [accounts] [positions] [latency_ms] [seconds]

Without arguments: 200 accounts × 2 positions at 100 ms for 60 s, then 20 accounts ×
50 positions (the memory figure).
"""

from __future__ import annotations

import asyncio
import re
import sys
import time

from bench.okx_bot import bot_against, exchange_for, p99

INTERVAL = 1  # the take-profit loop's interval, seconds
POSITIONS_PATH = "/api/v5/account/positions"
TARGETS = {"first_answer": 3.0, "skipped": 0, "p99_interval": 1.2, "round_trips": 1.5}
RSS_TARGET_MB = {(200, 2): 250, (20, 50): 120}


async def measure(accounts: int, positions: int, latency: float, seconds: float) -> dict:
    exchange, keys = exchange_for(accounts, positions)
    exchange.faults.latency_seconds = latency
    async with bot_against(exchange, keys, interval=INTERVAL, streams=False) as bot:
        answered, _ = await bot.answer_to("/positions", "Positions —")
        asked = time.monotonic()
        again, _ = await bot.answer_to("/positions", "Positions —")  # all read anew
        measured_from = time.monotonic()
        await asyncio.sleep(seconds)
        measured_to = time.monotonic()
        _, status = await bot.answer_to("/status", "Jobs")
        rss = bot.peak_rss_mb()
    counts = [tuple(map(int, m)) for m in
              re.findall(r"skipped (\d+), late (\d+)", "\n".join(status))]
    gaps: list[float] = []
    for (path, _), times in bot.okx.arrivals.items():
        if path == POSITIONS_PATH:
            inside = [t for t in times if measured_from <= t <= measured_to]
            gaps += [b - a for a, b in zip(inside, inside[1:], strict=False)]
    return {"first_answer": answered - bot.started, "positions": again - asked,
            "skipped": sum(c[0] for c in counts), "late": sum(c[1] for c in counts),
            "p99_interval": p99(gaps), "reads": len(gaps), "rss": rss}


def report(accounts: int, positions: int, latency_ms: int, seconds: float) -> None:
    r = asyncio.run(measure(accounts, positions, latency_ms / 1000, seconds))
    trips = r["positions"] / (latency_ms / 1000) if latency_ms else 0
    target = RSS_TARGET_MB.get((accounts, positions))
    print(f"{accounts} OKX accounts × {positions} positions, {latency_ms} ms latency, "
          f"take-profit every {INTERVAL} s, {seconds:g} s measured")
    print(f"  first answer (/positions) after start: {r['first_answer']:.2f} s "
          f"(target {TARGETS['first_answer']:g} s)")
    print(f"  /positions over every account: {r['positions']:.2f} s, {trips:.1f} round trips "
          f"(target {TARGETS['round_trips']:g}, plus Telegram)")
    print(f"  take-profit runs skipped: {r['skipped']}, late: {r['late']} "
          f"(target {TARGETS['skipped']})")
    print(f"  p99 interval between one account's position reads: {r['p99_interval']:.2f} s "
          f"(target {TARGETS['p99_interval']:g} s; {r['reads']} intervals)")
    print(f"  peak RSS of the bot: {r['rss']:.0f} MB"
          + (f" (target {target} MB)" if target else ""))


def main() -> None:
    if len(sys.argv) > 1:
        accounts, positions, latency_ms, seconds = (int(a) for a in
                                                    (sys.argv[1:] + ["2", "100", "60"])[:4])
        report(accounts, positions, latency_ms, seconds)
        return
    report(200, 2, 100, 60)
    report(20, 50, 100, 20)


if __name__ == "__main__":
    main()
