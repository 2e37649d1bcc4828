"""Many OKX accounts in one bot process: `python bot.py --config FILE` (unmodified, its own
process) against the fake OKX server answering every request after LATENCY, and the fake
Telegram Bot API server. Prints, against issue 16's targets:

- the first answer to `/positions`, sent as the process starts: seconds from the process
  start, and from the moment the bot first polls Telegram (when it is up); on the first
  start (a new database) and on a restart (stopped as a user stops it, started again);
- with at most 20 accounts, the next `/positions` (every account read anew): seconds, and
  round trips of LATENCY beyond what `/help` takes through Telegram and the handlers (a
  larger answer is several messages, paced by Telegram's limits);
- take-profit runs skipped or late during the measured window (the bot's `job_behind`
  log lines), and in all since the start (its `/status`);
- the p99 interval between two position reads of one account (at the server);
- the bot's peak RSS.

    .venv/bin/python -m bench.many_accounts [accounts] [positions] [latency_ms] [seconds]

Without arguments: 200 accounts × 2 positions at 100 ms for 60 s, then 20 accounts ×
50 positions.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from datetime import datetime

from bench.okx_bot import Running, bot_against, exchange_for, p99

INTERVAL = 1  # the take-profit loop's interval, seconds
POSITIONS_PATH = "/api/v5/account/positions"
TARGETS = {"first_answer": 3.0, "skipped": 0, "p99_interval": 1.2, "round_trips": 1.5}
RSS_TARGET_MB = {(200, 2): 250, (20, 50): 120}
SETTLE_SECONDS = 3.0  # after the first answer: its last messages out, the start's burst over
BEHIND = re.compile(r"^(\S+ \S+) WARNING jobs\.scheduler job_behind name=take_profit:\S+ "
                    r"why=(skipped|late)", re.M)


async def polling(bot: Running) -> float:
    """When the bot first asked Telegram for updates: it is up."""
    while not any(method == "getUpdates" for method, _ in bot.telegram.calls):
        await asyncio.sleep(0.005)
    return time.monotonic()


def behind_in(log: str, since: float, until: float) -> dict[str, int]:
    counts = {"skipped": 0, "late": 0}
    for moment, why in BEHIND.findall(log):
        at = datetime.strptime(moment, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if since <= at <= until:
            counts[why] += 1
    return counts


async def first_answer(bot: Running) -> tuple[float, float]:
    """Seconds from the process start, and from when it was up, to its first answer."""
    up = asyncio.create_task(polling(bot))
    answered, _ = await bot.answer_to("/positions", "Positions —")
    return answered - bot.started, answered - await up


async def measure(accounts: int, positions: int, latency: float, seconds: float) -> dict:
    exchange, keys = exchange_for(accounts, positions)
    exchange.faults.latency_seconds = latency
    result: dict = {}
    async with bot_against(exchange, keys, interval=INTERVAL, streams=False) as bot:
        result["first_start"] = await first_answer(bot)
        await asyncio.sleep(SETTLE_SECONDS)
        if accounts <= 20:
            asked = time.monotonic()
            again, _ = await bot.answer_to("/positions", "Positions —")
            result["positions"] = again - asked
            # the same path through Telegram and the handlers, without the venue
            asked = time.monotonic()
            helped, _ = await bot.answer_to("/help", "/positions")
            result["telegram"] = helped - asked
        window = (time.monotonic(), time.time())
        await asyncio.sleep(seconds)
        ended = (time.monotonic(), time.time())
        _, status = await bot.answer_to("/status", "Jobs")
        result["rss"] = bot.peak_rss_mb()
        log = (bot.folder / "stderr").read_text()
        await bot.restart()
        result["restart"] = await first_answer(bot)
    result["window"] = behind_in(log, window[1], ended[1])
    counts = [tuple(map(int, m)) for m in
              re.findall(r"skipped (\d+), late (\d+)", "\n".join(status))]
    result["since_start"] = {"skipped": sum(c[0] for c in counts),
                             "late": sum(c[1] for c in counts)}
    gaps: list[float] = []
    for (path, _), times in bot.okx.arrivals.items():
        if path == POSITIONS_PATH:
            inside = [t for t in times if window[0] <= t <= ended[0]]
            gaps += [b - a for a, b in zip(inside, inside[1:], strict=False)]
    result["p99_interval"], result["intervals"] = p99(gaps), len(gaps)
    return result


def report(accounts: int, positions: int, latency_ms: int, seconds: float) -> None:
    r = asyncio.run(measure(accounts, positions, latency_ms / 1000, seconds))
    target = RSS_TARGET_MB.get((accounts, positions))
    print(f"{accounts} OKX accounts × {positions} positions, {latency_ms} ms latency, "
          f"take-profit every {INTERVAL} s, {seconds:g} s measured")
    for start, name in (("first_start", "first start, new database"),
                        ("restart", "restart")):
        since_start, since_up = r[start]
        print(f"  first answer (/positions, sent at the start) on the {name}: "
              f"{since_start:.2f} s after the process started, {since_up:.2f} s after it "
              f"was up (target {TARGETS['first_answer']:g} s)")
    if "positions" in r:
        venue = r["positions"] - r["telegram"]
        trips = venue / (latency_ms / 1000) if latency_ms else 0
        print(f"  /positions over every account: {r['positions']:.2f} s, of which "
              f"{venue:.2f} s beyond /help's {r['telegram']:.2f} s: {trips:.1f} round trips "
              f"(target {TARGETS['round_trips']:g}, plus Telegram)")
    w, a = r["window"], r["since_start"]
    print(f"  take-profit runs skipped: {w['skipped']}, late: {w['late']} in the window "
          f"(target {TARGETS['skipped']}); since the start {a['skipped']} and {a['late']}")
    print(f"  p99 interval between one account's position reads: {r['p99_interval']:.2f} s "
          f"(target {TARGETS['p99_interval']:g} s; {r['intervals']} intervals)")
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
