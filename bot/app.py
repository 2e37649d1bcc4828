"""The composition root: builds the database, the venues, the jobs and Telegram, wires
them together and runs them. Nothing else constructs these."""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError
from telegram import Update
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder

from bot.config import Config
from bot.execution import Executor, FollowSettings
from bot.instance_lock import AlreadyRunning, InstanceLock
from bot.ops.context import Context
from bot.ops.ops import Ops
from bot.venues.base import Venue
from bot.venues.factory import PaperRuntime, VenueSetupError, build_venues
from db.repo import Store
from db.session import Database
from handlers import commands
from handlers.alerts import Alerter
from handlers.common import SERVICES_KEY, Services
from handlers.console import ConsoleChat
from handlers.local_chat import LocalChat
from handlers.local_transport import local_application_builder
from jobs.loops import schedule_loops
from jobs.scheduler import Jobs

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class StartupError(Exception):
    """Something in the set-up that stops the bot from starting; the message says what."""


def configure_logging(*, console: bool) -> None:
    """One line per event on stderr. In the console chat only warnings and errors, so the
    chat on stdout stays readable."""
    logging.basicConfig(
        level=logging.WARNING if console else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    # httpx logs every Bot API request at INFO: noise, and the URL carries the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


class BotApp:
    """One running bot. `chat` set: Telegram is the in-process LocalChat (console chat,
    tests); otherwise the real Bot API at `telegram.base_url` with the configured token."""

    def __init__(self, config: Config, *, chat: LocalChat | None = None,
                 clock: Callable[[], datetime] = utcnow, base_dir: Path | None = None) -> None:
        self.config = config
        self.clock = clock
        self.chat = chat
        self.ready = asyncio.Event()  # set once serving, the start notice sent
        self.lock = InstanceLock(config.database.url)
        try:
            self.db = Database(config.database.url)
            self.db.migrate()
            self.store = Store(self.db, clock=clock)
            self.venues: dict[str, Venue]
            self.paper: PaperRuntime | None
            self.venues, self.paper = build_venues(config, clock, base_dir)
            self.application = self._telegram()
            close = config.rules.close
            executor = Executor(self.store, client_prefix=self._client_prefix(), follow=(
                # the first wait after a rate limit or outage is one poll interval too
                FollowSettings(timeout_seconds=close.follow_timeout_seconds,
                               poll_seconds=float(close.follow_poll_seconds),
                               backoff_seconds=float(close.follow_poll_seconds))))
            ctx = Context.build(config, self.store, self.venues, executor, clock)
            self.executor, self.busy, self.pause, self.events = (
                executor, ctx.busy, ctx.pause, ctx.events)
            assert self.application.job_queue is not None, "python-telegram-bot[job-queue] missing"
            self.jobs = Jobs(self.application.job_queue, self.pause)
            self.ops = Ops(ctx, self.jobs)
            self.jobs.on_error, self.jobs.on_success = (self.ops.status.job_failed,
                                                        self.ops.status.job_ran)
            services = Services(config, self.ops, self.store, clock)
            self.application.bot_data[SERVICES_KEY] = services
            self.events.subscribe(Alerter(services, self.application.bot).deliver)
            commands.register(self.application)
            self._schedule()
        except BaseException:
            self.lock.release()
            raise

    @classmethod
    def for_config(cls, config: Config) -> BotApp:
        """The bot as `python bot.py` runs it: the console chat when there is no token."""
        chat = None
        if config.is_demo:
            chat = LocalChat(user_id=config.telegram.allowed_user_ids[0], first_name="You",
                             username="console")
        try:
            return cls(config, chat=chat)
        except (VenueSetupError, AlreadyRunning) as exc:
            raise StartupError(str(exc)) from None
        except SQLAlchemyError as exc:
            raise StartupError(f"database {config.database.display_url}: "
                               f"{type(exc).__name__}: {exc.__cause__ or exc}") from None

    def _client_prefix(self) -> str:
        """This installation's prefix for client order ids, made once and kept."""
        prefix = self.store.get_setting("client_prefix")
        if prefix is None:
            prefix = "b" + secrets.token_hex(3)
            self.store.set_setting("client_prefix", prefix)
        return str(prefix)

    def _telegram(self) -> Application:  # type: ignore[type-arg]
        if self.chat is not None:
            # Concurrent updates: a close being followed must not hold up other commands.
            return local_application_builder(self.chat).concurrent_updates(True).build()
        token = self.config.telegram.token
        assert token is not None, "a token is required without a local chat"
        builder = ApplicationBuilder().token(token.get_secret_value())
        if self.config.telegram.base_url:
            base = self.config.telegram.base_url.rstrip("/")
            builder = builder.base_url(base).base_file_url(base.removesuffix("/bot") + "/file/bot")
        # Queue and retry on 429 so no alert is lost to Telegram's flood limits (SPEC §11).
        builder = builder.rate_limiter(AIORateLimiter(max_retries=5))
        return builder.concurrent_updates(True).build()

    def _schedule(self) -> None:
        if self.paper is not None:
            paper = self.paper
            self.jobs.add("paper_market", float(self.config.paper.tick_seconds),
                          self._async(paper.tick), pausable=False,
                          first=float(self.config.paper.tick_seconds))
        schedule_loops(self.jobs, self.config, self.ops)

    @staticmethod
    def _async(func: Callable[[], None]) -> Callable[[], asyncio.Future[None]]:
        async def run() -> None:
            func()
        return run  # type: ignore[return-value]

    async def serve(self, stop: asyncio.Event | None = None, *, stdin: TextIO | None = None,
                    stdout: TextIO | None = None) -> None:
        """Run until `stop` is set, or, in the console chat, until the input ends."""
        app = self.application
        # The console shows the start notice and the stop line too, not only the chat.
        console = ConsoleChat(self.chat, stdin, stdout) if (
            self.chat is not None and stop is None) else None
        async with app:
            await app.bot.set_my_commands(commands.bot_commands(self.config.language))
            self.ops.recovery.take_stock()  # before any new command journals a step
            await app.start()
            if console is not None:
                console.attach()
            await self.ops.status.started()
            # In the background, since a resumed order may take as long as the order; its
            # maintenances hold their positions before the jobs' first run looks at them.
            app.create_task(self.ops.recovery.run(), name="reconcile")
            await asyncio.sleep(0)
            self.jobs.start()
            assert app.updater is not None
            await app.updater.start_polling(
                poll_interval=0, timeout=1 if self.chat is not None else 10,
                allowed_updates=Update.ALL_TYPES)
            self.ready.set()
            try:
                if stop is not None:
                    await stop.wait()
                elif console is not None:
                    await console.run()
                else:
                    await _until_signalled()
            finally:
                try:
                    await self.ops.status.stopped()
                except Exception:  # the stop notice must not keep the bot from stopping
                    log.exception("stop_notice_failed")
                if console is not None:
                    console.detach()
                await app.updater.stop()
                await app.stop()
                await self.close()

    async def close(self) -> None:
        for venue in self.venues.values():
            await venue.close()
        self.db.dispose()
        self.lock.release()


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
