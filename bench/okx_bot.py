"""What the OKX benchmarks share: the unmodified bot (`python bot.py --config FILE`, its own
process) against the fake OKX server, which notes when requests arrive, and the fake
Telegram Bot API server; many accounts holding positions on made-up coins."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from bot.domain import Side
from bot.venues.paper.demo import INSTRUMENTS, MARKS
from bot.venues.paper.engine import PaperExchange
from tests.fakes.okx_server import Credentials, FakeOkxServer
from tests.fakes.telegram_server import FakeTelegramServer

ROOT = Path(__file__).resolve().parents[1]
USER = 1001
TEMPLATE = next(i for i in INSTRUMENTS if i.symbol == "APT-USDT-SWAP")  # 1 coin a contract


class TimedOkxServer(FakeOkxServer):
    """Notes when each request arrives, by path and API key."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: dict[tuple[str, str], list[float]] = defaultdict(list)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        key = (request.path, request.headers.get("OK-ACCESS-KEY", ""))
        self.arrivals[key].append(time.monotonic())
        return await super()._handle(request)


def coins(count: int) -> list[str]:
    return [f"C{n:02}-USDT-SWAP" for n in range(count)]


def exchange_for(accounts: int, positions: int, *, longs_only: bool = False,
                 ) -> tuple[PaperExchange, dict[str, str]]:
    """`accounts` accounts (acct000, …) holding `positions` positions of 10 contracts at 5
    USDT and 10x each, on made-up coins (long and short on each, or longs only), every
    mark still at 5 until the bench moves it. Returns the exchange and its API keys."""
    symbols = coins(positions if longs_only else (positions + 1) // 2)
    made_up = [replace(TEMPLATE, symbol=s, base=s.split("-")[0]) for s in symbols]
    ex = PaperExchange([*INSTRUMENTS, *made_up], {**MARKS, **{s: D(5) for s in symbols}})
    ex.market.freeze()
    keys = {}
    for n in range(accounts):
        name = f"acct{n:03}"
        keys[f"key-{name}"] = name
        ex.add_account(name, D(100000))
        for k in range(positions):
            if longs_only:
                ex.seed_position(name, symbols[k], Side.LONG, D(10), D(5), D(10))
            else:
                side = Side.LONG if k % 2 == 0 else Side.SHORT
                ex.seed_position(name, symbols[k // 2], side, D(10), D(5), D(10))
    return ex, keys


def write_config(folder: Path, okx_url: str, telegram: FakeTelegramServer,
                 keys: dict[str, str], *, interval: float, streams: bool,
                 database_url: str | None = None, lease_seconds: int | None = None) -> Path:
    """Every account on the fake OKX server with take-profit on, nothing else; on an
    SQLite file in `folder`, or `database_url` (with `lease_seconds`: a cluster)."""
    accounts = [{"name": name, "role": "main" if n == 0 else "sub", "venue": "okx",
                 "base_url": okx_url, "api_key": key, "api_secret": f"secret-{name}",
                 "passphrase": f"pass-{name}", "streams": streams,
                 "rules": {"take_profit": True, "hedge": False, "correction": False,
                           "watcher": "off"}}
                for n, (key, name) in enumerate(keys.items())]
    config = {"language": "en",
              "telegram": {"token": telegram.token, "base_url": telegram.base_url,
                           "allowed_user_ids": [USER]},
              "database": {"url": database_url or f"sqlite:///{folder / 'bot.db'}"},
              "accounts": accounts,
              "rules": {"take_profit": {"interval_seconds": interval},
                        "close": {"follow_poll_seconds": "0.05"}}}
    if lease_seconds is not None:
        config["cluster"] = {"enabled": True, "lease_seconds": lease_seconds}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class Running:
    okx: TimedOkxServer
    telegram: FakeTelegramServer
    config: Path
    folder: Path
    process: asyncio.subprocess.Process | None = None
    started: float = 0.0  # monotonic, just before the process was spawned

    async def start(self) -> None:
        """`python bot.py --config FILE` in its folder, its log in `stderr` there."""
        env = {k: v for k, v in os.environ.items() if k != "BOT_CONFIG"}
        self.started = time.monotonic()
        with (self.folder / "stderr").open("wb") as stderr:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, str(ROOT / "bot.py"), "--config", str(self.config),
                cwd=self.folder, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=stderr)

    async def stop(self) -> None:
        if self.process is not None:
            if self.process.returncode is None:
                self.process.terminate()
            await self.process.wait()

    async def restart(self) -> None:
        """Stopped as a user stops it, started again on the same database."""
        await self.stop()
        self.telegram.calls.clear()
        await self.start()

    async def answer_to(self, text: str, answer: str, timeout: float = 30
                        ) -> tuple[float, list[str]]:
        """Say `text`: when the bot's answer (the first message after it containing
        `answer`, not an alert) arrived, and all it said meanwhile."""
        assert self.process is not None, "start() first"
        chat = self.telegram.chat
        mark = len(chat.transcript)
        await chat.say(text)
        deadline = time.monotonic() + timeout
        while not [e for e in chat.transcript[mark:] if e.kind == "sent" and answer in e.text]:
            if self.process.returncode is not None or time.monotonic() > deadline:
                log = (self.folder / "stderr").read_text()[-3000:]
                raise RuntimeError(f"no answer to {text} (exit {self.process.returncode}); "
                                   f"the bot's log ends:\n{log}")
            await asyncio.sleep(0.01)
        answered = time.monotonic()
        await asyncio.sleep(1.0)  # a long answer comes in several messages
        return answered, [e.text for e in chat.transcript[mark:] if e.kind == "sent"]

    def peak_rss_mb(self) -> float:
        assert self.process is not None, "start() first"
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        found = re.search(r"VmHWM:\s+(\d+) kB", status)
        assert found is not None
        return int(found.group(1)) / 1024


@contextlib.asynccontextmanager
async def bot_against(exchange: PaperExchange, keys: dict[str, str], *, interval: float,
                      streams: bool) -> AsyncIterator[Running]:
    credentials = {key: Credentials(f"secret-{name}", f"pass-{name}")
                   for key, name in keys.items()}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        async with TimedOkxServer(exchange, keys, credentials=credentials) as okx, \
                FakeTelegramServer() as telegram:
            telegram.chat.user["id"] = USER
            telegram.chat.users = {USER: telegram.chat.user}
            config = write_config(folder, okx.base_url, telegram, keys, interval=interval,
                                  streams=streams)
            bot = Running(okx, telegram, config, folder)
            await bot.start()
            try:
                yield bot
            finally:
                await bot.stop()


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0
