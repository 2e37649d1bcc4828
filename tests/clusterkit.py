"""Issue 17's cluster, as a desk runs it: several unmodified `bot.py` processes with
`cluster.enabled` on one real PostgreSQL database (tests/pgserver.py), forty OKX accounts
on the fake OKX server, Telegram at the fake Bot API server.

Every account holds a UNI long of 10 contracts at 7.5 (10x): `UNI_CROSSING` puts it 26.7%
in profit, past the first take-profit tier (25%: close 30%, 3 contracts), and an APT long of 60 at
the mark, which `/maintain apt <account>` maintains in three orders (close 60, open 600,
close 552), as in tests/test_maintain_command.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import psycopg
import yaml
from aiohttp import web

from bot.domain import OrderSide, Side
from bot.venues.paper.demo import new_exchange
from bot.venues.paper.engine import PaperExchange
from tests.fakes.okx_server import Credentials
from tests.fakes.telegram_server import FakeTelegramServer
from tests.killkit import BotProcess, TrapOkxServer

ACCOUNTS = [f"acct{n:02}" for n in range(40)]
KEYS = {f"key-{name}": name for name in ACCOUNTS}
CREDENTIALS = {key: Credentials(f"secret-{name}", f"pass-{name}") for key, name in KEYS.items()}
USER = 1001
APT, UNI = "APT-USDT-SWAP", "UNI-USDT-SWAP"
UNI_CROSSING = D("7.7")
TIER_CLOSE = D(3)  # 30% of 10 contracts
LEASE_SECONDS = 4
INTERVAL = 1  # the take-profit loop's, and what a renewal takes at most besides
POSITIONS_PATH = "/api/v5/account/positions"


def exchange() -> PaperExchange:
    ex = new_exchange()
    ex.market.freeze()
    ex.set_mark(APT, D(5))
    ex.set_mark(UNI, D("7.5"))
    for name in ACCOUNTS:
        ex.add_account(name, D(330))
        ex.seed_position(name, UNI, Side.LONG, D(10), D("7.5"), D(10))
        ex.seed_position(name, APT, Side.LONG, D(60), D(5), D(10))
    return ex


class ClusterOkxServer(TrapOkxServer):
    """The kill points' server (a trap on the n-th order), and `on_positions`: called
    with each account's positions read before it is answered."""

    def __init__(self, ex: PaperExchange) -> None:
        super().__init__(ex, KEYS, CREDENTIALS)
        self.on_positions: Callable[[str], None] | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:  # type: ignore[override]
        if self.on_positions is not None and request.path == POSITIONS_PATH:
            account = self.keys.get(request.headers.get("OK-ACCESS-KEY", ""))
            if account is not None:
                self.on_positions(account)
        return await super()._handle(request)


def write_config(folder: Path, okx_url: str, telegram: FakeTelegramServer,
                 database_url: str) -> Path:
    accounts = [{"name": name, "role": "main" if name == ACCOUNTS[0] else "sub",
                 "venue": "okx", "base_url": okx_url, "streams": False, "api_key": key,
                 "api_secret": CREDENTIALS[key].secret, "passphrase": CREDENTIALS[key].passphrase,
                 "rules": {"take_profit": True, "hedge": False, "correction": False,
                           "watcher": "off"}}
                for key, name in KEYS.items()]
    config = {
        "language": "en",
        "telegram": {"token": telegram.token, "base_url": telegram.base_url,
                     "allowed_user_ids": [USER]},
        "database": {"url": database_url},
        "cluster": {"enabled": True, "lease_seconds": LEASE_SECONDS},
        "accounts": accounts,
        "rules": {"take_profit": {"interval_seconds": INTERVAL},
                  "close": {"follow_poll_seconds": "0.05"}},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class Cluster:
    okx: ClusterOkxServer
    telegram: FakeTelegramServer
    exchange: PaperExchange
    dsn: str
    bots: dict[str, BotProcess]

    def holders(self) -> dict[str, str | None]:
        """Lease name -> the pid of the process holding it (None: nobody, or expired)."""
        with psycopg.connect(self.dsn) as db:
            if db.execute("SELECT to_regclass('leases')").fetchone() == (None,):
                return {}  # not migrated yet
            rows = db.execute("SELECT name, CASE WHEN expires_at > now() THEN holder END "
                              "FROM leases").fetchall()
        return {name: holder.split(":")[1] if holder else None for name, holder in rows}

    def pid(self, bot: str) -> str | None:
        process = self.bots[bot].process
        return None if process is None else str(process.pid)

    def accounts_of(self, bot: str) -> set[str]:
        pid = self.pid(bot)
        return {n.removeprefix("account:") for n, holder in self.holders().items()
                if n.startswith("account:") and holder is not None and holder == pid}

    def poller(self) -> str | None:
        holder = self.holders().get("telegram")
        return next((bot for bot in self.bots if holder is not None
                     and holder == self.pid(bot)), None)

    async def until(self, what: Callable[[], Any], timeout: float, why: str) -> float:
        """Seconds until `what()` holds; fails saying `why` (and the bots' logs) if never."""
        began = time.monotonic()
        while not what():
            if time.monotonic() - began > timeout:
                noise = ("okx_request", "job_behind", "apscheduler", "position_reduced")
                logs = "\n".join(f"--- {name}\n" + "\n".join(
                    line for line in bot.stderr().splitlines()
                    if not any(n in line for n in noise))[-6000:]
                    for name, bot in self.bots.items())
                raise AssertionError(f"{why} (after {timeout} s)\n{logs}")
            await asyncio.sleep(0.05)
        return time.monotonic() - began

    async def start(self, bot: str) -> None:
        await self.bots[bot].start()
        await self.until(lambda: self.accounts_of(bot) or self.poller() == bot, 30,
                         f"{bot} never took a lease")

    def signal(self, bot: str, sig: int) -> None:
        process = self.bots[bot].process
        assert process is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, sig)

    def tier_closes(self) -> dict[str, int]:
        """Per account: UNI closes of the first tier's size that reached the venue."""
        return {name: sum(1 for o in self.exchange.orders.values()
                          if o.account == name and o.symbol == UNI and o.reduce_only
                          and o.side is OrderSide.SELL and o.size == TIER_CLOSE)
                for name in ACCOUNTS}

    def maintenance_orders(self, account: str) -> list[D]:
        return [o.size for o in self.exchange.orders.values()
                if o.account == account and o.symbol == APT]

    def journal_settled(self) -> bool:
        with psycopg.connect(self.dsn) as db:
            return db.execute("SELECT count(*) FROM actions WHERE state IN "
                              "('planned', 'running')").fetchone() == (0,)

    async def answer(self, text: str, expect: str, timeout: float) -> float:
        """Say `text`; seconds until a message containing `expect` came back."""
        chat = self.telegram.chat
        mark = len(chat.transcript)
        await chat.say(text)
        return await self.until(
            lambda: any(e.kind == "sent" and expect in e.text for e in chat.transcript[mark:]),
            timeout, f"no answer to {text}")

    def said(self, containing: str) -> str:
        """The last message sent to the chat containing `containing`."""
        return next(e.text for e in reversed(self.telegram.chat.transcript)
                    if e.kind == "sent" and containing in e.text)

    async def command_confirmed(self, text: str, timeout: float = 20) -> None:
        chat = self.telegram.chat
        mark = len(chat.transcript)
        await chat.say(text)

        def asked() -> list[Any]:
            return [e for e in chat.transcript[mark:] if e.kind in ("sent", "edited")
                    and e.buttons and "Confirm" in e.buttons[0]]

        await self.until(asked, timeout, f"{text!r} was not asked to confirm")
        question = asked()[-1]
        await chat.press(question.buttons[0], message_id=question.message_id)


@contextlib.asynccontextmanager
async def cluster(folder: Path, postgres: Any, bots: tuple[str, ...] = ("a", "b")
                  ) -> AsyncIterator[Cluster]:
    url = postgres.new_database(migrated=False)  # the bots migrate it, one of them waiting
    ex = exchange()
    async with ClusterOkxServer(ex) as okx, FakeTelegramServer() as telegram:
        telegram.chat.user["id"] = USER
        telegram.chat.users = {USER: telegram.chat.user}
        config = write_config(folder, okx.base_url, telegram, url)
        processes = {}
        for name in bots:
            (folder / name).mkdir()
            processes[name] = BotProcess(folder / name, config)
        running = Cluster(okx, telegram, ex, url.replace("+psycopg", ""), processes)
        try:
            yield running
        finally:
            for name, bot in processes.items():
                if bot.process is not None:
                    running.signal(name, signal.SIGCONT)
                    await bot.stop()
            postgres.drop(url)
