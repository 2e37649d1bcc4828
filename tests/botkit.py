"""The config and the running bot of the end-to-end tests, in one place.

`make_config` builds the config those tests share: the accounts main and sub1, on the
paper venue or on OKX behind the fake server, with the database and the paper state
under the test's tmp_path and the rule loops off unless a test turns one on. `running`
starts a BotApp on it, served as in production, for the test's `async with` block;
`initialized` only initializes it, for tests that run the jobs themselves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app import BotApp
from bot.config import Config, parse_config
from handlers.local_chat import LocalChat
from jobs.scheduler import FIRST_RUN_DELAY, SPREAD_SECONDS
from tests.fakes.okx_accounts import credentials_of

USER = 1001
PAPER_STILL = {"random_walk_step": "0"}  # marks move only when the test sets them
PAPER_EMPTY = {**PAPER_STILL, "demo_portfolio": False}  # and no demo positions either
FAST_FOLLOW = {"follow_poll_seconds": "0.01",  # rules.close: poll a sent order quickly
               "late_window_seconds": "0.2"}


def make_config(tmp_path: Path, *, users: Iterable[int] = (USER,), okx_url: str | None = None,
                rules: dict[str, Any] | None = None, paper: dict[str, Any] | None = None,
                close: dict[str, Any] | None = None,
                telegram: dict[str, Any] | None = None,
                grids: list[dict[str, Any]] | None = None, streams: bool = False,
                database_url: str | None = None) -> Config:
    """main (role main) and sub1 (role sub): paper accounts, or OKX accounts at `okx_url`
    with the fake server's keys, read over REST unless `streams`. `rules` sets each
    account's rule switches over take_profit, hedge and correction off; `paper`, `close`
    (rules.close) and `telegram` add to those sections of the config; `grids` is its
    `grids:`; `database_url` its database (else an SQLite file in `tmp_path`)."""
    def account(name: str, role: str) -> dict[str, Any]:
        venue = {"venue": "paper"} if okx_url is None else {
            "venue": "okx", "base_url": okx_url, "streams": streams, **credentials_of(name)}
        return {"name": name, "role": role, **venue,
                "rules": {"take_profit": False, "hedge": False, "correction": False,
                          **(rules or {})}}

    return parse_config({
        "language": "en",
        "telegram": {"allowed_user_ids": list(users), **(telegram or {})},
        "database": {"url": database_url or f"sqlite:///{tmp_path / 'bot.db'}"},
        "paper": {"state_path": str(tmp_path / "paper.json"), **(paper or {})},
        "accounts": [account("main", "main"), account("sub1", "sub")],
        "rules": {"close": close or {}},
        "grids": grids or [],
    })


def quiet(config: Config) -> Config:
    """The rule loops' runs an hour apart: after their first run (`first_runs_done`), no
    alert of theirs lands among the answers a test reads (on a slow machine it would)."""
    config.rules.take_profit.interval_seconds = 3600
    config.rules.maintenance.watcher.interval_seconds = 3600
    config.rules.correction.interval_seconds = 3600
    config.rules.grid.interval_seconds = 3600
    return config


async def first_runs_done(app: BotApp, timeout: float = 10.0) -> None:
    """Every job ran once (each first runs a moment after the start), alerts sent."""
    for _ in range(int(timeout / 0.02)):
        if all(status.runs for status in app.jobs.statuses()):
            return
        await asyncio.sleep(0.02)
    raise TimeoutError([s.name for s in app.jobs.statuses() if not s.runs])


def _new_bot(config: Config, user_id: int | None,
             clock: Callable[[], datetime] | None) -> tuple[BotApp, LocalChat | None]:
    chat = None if user_id is None else LocalChat(user_id=user_id)
    return BotApp(config, chat=chat, **({"clock": clock} if clock else {})), chat


@contextlib.asynccontextmanager
async def running(config: Config, *, user_id: int | None = USER,
                  clock: Callable[[], datetime] | None = None,
                  prepare: Callable[[BotApp], object] | None = None,
                  ) -> AsyncIterator[tuple[BotApp, LocalChat | None]]:
    """(app, chat): the bot serving in a task until the block ends, talking to `user_id`
    through a LocalChat (None: no LocalChat, the Bot API of the config's telegram
    section). `prepare(app)` runs before it starts, e.g. to seed its exchange. The block
    starts once the bot serves and the jobs' first runs (spread over their first second)
    are over: what the test does next does not race them for a position."""
    app, chat = _new_bot(config, user_id, clock)
    if prepare is not None:
        prepare(app)
    stop = asyncio.Event()
    task = asyncio.create_task(app.serve(stop))
    try:
        # Serving, and the start notice sent: what a test asks next gets only its answer.
        ready = asyncio.create_task(app.ready.wait())
        await asyncio.wait({ready, task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # a start that failed fails the test with its own error
        await _first_runs_over(app, task)
        yield app, chat
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def _first_runs_over(app: BotApp, serving: asyncio.Task[None]) -> None:
    horizon = datetime.now(UTC) + timedelta(seconds=FIRST_RUN_DELAY + SPREAD_SECONDS)
    soon = {s.name for s in app.jobs.statuses()
            if s.last_start is None and s.next_run is not None and s.next_run <= horizon}
    for _ in range(250):
        if serving.done() or all(s.last_start is not None and not s.running
                                 for s in app.jobs.statuses() if s.name in soon):
            return
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def initialized(config: Config, *, user_id: int = USER,
                      ) -> AsyncIterator[tuple[BotApp, LocalChat]]:
    """(app, chat): the bot initialized, so it can send, but not serving: no job runs
    unless the test runs it."""
    app, chat = _new_bot(config, user_id, None)
    assert chat is not None
    await app.application.initialize()
    try:
        yield app, chat
    finally:
        await app.application.shutdown()
        await app.close()
