"""The README's picture of `/chart APT sub1`: the paper demo over simulated hours, its
marks walking and its take-profit rule closing tiers of sub1's APT long, drawn as the
bot draws it. Simulated time, the demo's seed: the same picture on every run.

    .venv/bin/python -m bench.chart_image [docs/chart.png]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import BotApp
from bot.config import parse_config
from handlers.chart_image import draw
from handlers.local_chat import LocalChat

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
TICK = timedelta(seconds=15)  # one step of the demo's random walk
TICKS = 4 * 240  # four hours: the window's first half is the history made up before START
RULES_EVERY = 40  # ticks between two runs of the take-profit rule: ten minutes


class SimulatedClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def demo_config(folder: Path):
    paper = {"name": "main", "role": "main", "venue": "paper"}
    return parse_config({
        "language": "en",
        "telegram": {"allowed_user_ids": [1001]},
        "database": {"url": f"sqlite:///{folder / 'bot.db'}"},
        "paper": {"state_path": str(folder / "paper.json")},
        "accounts": [paper, {**paper, "name": "sub1", "role": "sub"}],
    })


async def chart_png(folder: Path) -> bytes:
    clock = SimulatedClock()
    app = BotApp(demo_config(folder), chat=LocalChat(), clock=clock)
    assert app.paper is not None
    await app.application.initialize()  # the rule's reports go to the local chat
    try:
        for tick in range(1, TICKS + 1):
            clock.now += TICK
            app.paper.tick()
            if tick % RULES_EVERY == 0:
                await app.jobs.run_now("take_profit:sub1")
        return draw(await app.ops.chart.data("APT", "sub1"))
    finally:
        await app.application.shutdown()
        await app.close()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/chart.png")
    with tempfile.TemporaryDirectory() as folder:
        png = asyncio.run(chart_png(Path(folder)))
    out.write_bytes(png)
    print(f"{out}: {len(png)} bytes")


if __name__ == "__main__":
    main()
