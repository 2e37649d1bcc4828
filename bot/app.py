"""The composition root: builds the database, the venues, the jobs and Telegram, wires
them together and runs them. Nothing else constructs these."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import httpx
from sqlalchemy.exc import SQLAlchemyError
from telegram import Update
from telegram.error import BadRequest, Conflict, InvalidToken, NetworkError, TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder
from telegram.request import HTTPXRequest

from bot.config import Config
from bot.execution import Executor, FollowSettings
from bot.instance_lock import AlreadyRunning, InstanceLock
from bot.ops.context import Context
from bot.ops.ops import Ops
from bot.secrecy import SecretScrubber, config_secrets
from bot.venues.base import Streaming, Venue
from bot.venues.factory import PaperRuntime, VenueSetupError, build_venues
from db.aio import AsyncStore
from db.repo import Store
from db.session import Database, DriverMissing
from handlers import commands
from handlers.alerts import Alerter
from handlers.common import SERVICES_KEY, Services
from handlers.console import ConsoleChat
from handlers.local_chat import LocalChat
from handlers.local_transport import local_application_builder
from handlers.telegram_limits import FittingBot
from jobs.loops import schedule_loops
from jobs.scheduler import Jobs

if TYPE_CHECKING:
    from bot.app_member import Member
    from web.server import StatusPage

log = logging.getLogger(__name__)
# A Conflict from getUpdates this soon after polling began means another bot polled first.
CONFLICT_WINDOW_SECONDS = 30


def utcnow() -> datetime:
    return datetime.now(UTC)


class StartupError(Exception):
    """Something in the set-up that stops the bot from starting; the message says what."""


class ClusterLeft(Exception):
    """This process no longer renews its leases (a fault in its membership): it stops,
    with an error, rather than serve on without them."""


def configure_logging(*, console: bool, secrets: Iterable[str] = ()) -> SecretScrubber:
    """One line per event on stderr. In the console chat only warnings and errors, so the
    chat on stdout stays readable. `secrets` are masked in every record and traceback,
    uncaught ones included; the returned scrubber masks them in any other text."""
    logging.basicConfig(
        level=logging.WARNING if console else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    scrubber = SecretScrubber(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(scrubber)
    sys.excepthook = lambda *exc_info: log.critical("uncaught", exc_info=exc_info)
    threading.excepthook = lambda args: log.critical(
        "uncaught thread=%s", args.thread.name if args.thread else None,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
    # httpx logs every Bot API request at INFO: noise, and the URL carries the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return scrubber


class BotApp:
    """One running bot. `chat` set: Telegram is the in-process LocalChat (console chat,
    tests); otherwise the real Bot API at `telegram.base_url` with the configured token."""

    def __init__(self, config: Config, *, chat: LocalChat | None = None,
                 clock: Callable[[], datetime] = utcnow, base_dir: Path | None = None,
                 scrub: SecretScrubber | None = None) -> None:
        self.config = config
        self.clock = clock
        self.chat = chat
        # Secrets masked in what the bot records and sends, not only in its logs.
        # (the logging's own when given: built once, 40 ms with hundreds of accounts)
        self.scrub = scrub or SecretScrubber(config_secrets(config))
        self.ready = asyncio.Event()  # set once serving, the start notice sent
        self._refused = asyncio.Event()  # set when Telegram says another bot polls first
        self._refusal: str | None = None
        self._left = asyncio.Event()  # set if this process's cluster membership ended
        self._polling_since = 0.0
        # (in a cluster the processes share the token: its lease picks the one poller)
        self.lock = InstanceLock(config.database.url, base_url=config.telegram.base_url, token=(
            None if chat is not None or config.telegram.token is None or config.cluster.enabled
            else config.telegram.token.get_secret_value()))
        try:
            self.db = Database(config.database.url)
            self.db.migrate()
            self.store = Store(self.db, clock=clock)
            self.venues: dict[str, Venue]
            self.paper: PaperRuntime | None
            self.venues, self.paper = build_venues(config, clock, base_dir)
            self.member: Member | None = None
            if config.cluster.enabled:
                from bot.app_member import Member  # a cluster's only: psycopg, its leases

                self.member = Member(config, self.db, self.venues, poll=self._poll)
                self.venues = self.member.venues
            self.application = self._telegram()
            close = config.rules.close
            executor = Executor(AsyncStore(self.store), client_prefix=self._client_prefix(),
                                clock=clock, follow=FollowSettings(
                                    timeout_seconds=close.follow_timeout_seconds,
                                    poll_seconds=float(close.follow_poll_seconds),
                                    # the first wait after a rate limit or outage is one poll
                                    backoff_seconds=float(close.follow_poll_seconds),
                                    late_window_seconds=float(close.late_window_seconds)))
            ctx = Context.build(config, self.store, self.venues, executor, clock,
                                scrub=self.scrub)
            self.executor, self.busy, self.pause, self.events = (
                executor, ctx.busy, ctx.pause, ctx.events)
            assert self.application.job_queue is not None, "python-telegram-bot[job-queue] missing"
            self.jobs = Jobs(self.application.job_queue, self.pause)
            self.ops = Ops(ctx, self.jobs)
            self.jobs.on_error, self.jobs.on_success = (self.ops.status.job_failed,
                                                        self.ops.status.job_ran)
            self.jobs.on_behind, self.jobs.on_time = (self.ops.status.job_behind,
                                                      self.ops.status.job_on_time)
            services = Services(config, self.ops, ctx.store, clock, started_at=clock())
            self.application.bot_data[SERVICES_KEY] = services
            self.events.subscribe(Alerter(services, self.application.bot).deliver)
            commands.register(self.application, None if self.member is None else self.member.bind(
                self.jobs, self.ops, self.application, self._watch_streams))
            self._schedule()
            self.status_page = self._status_page()
        except BaseException:
            self.lock.release()
            raise

    @classmethod
    def for_config(cls, config: Config, scrub: SecretScrubber | None = None) -> BotApp:
        """The bot as `python bot.py` runs it: the console chat when there is no token."""
        chat = None
        if config.is_demo:
            chat = LocalChat(user_id=config.telegram.allowed_user_ids[0], first_name="You",
                             username="console")
        try:
            return cls(config, chat=chat, scrub=scrub)
        except (VenueSetupError, AlreadyRunning) as exc:
            raise StartupError(str(exc)) from None
        except DriverMissing as exc:
            raise StartupError(f"database {config.database.display_url}: {exc}") from None
        except SQLAlchemyError as exc:
            raise StartupError(f"database {config.database.display_url}: "
                               f"{type(exc).__name__}: {exc.__cause__ or exc}") from None
        except OSError as exc:  # the data folder or a file in it cannot be made or written
            raise StartupError(f"cannot write {exc.filename}: {exc.strerror}" if exc.filename
                               else str(exc)) from None

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
            return local_application_builder(self.chat, scrub=self.scrub).concurrent_updates(
                True).build()
        token = self.config.telegram.token
        assert token is not None, "a token is required without a local chat"
        urls: dict[str, str] = {}
        if self.config.telegram.base_url:
            base = self.config.telegram.base_url.rstrip("/")
            urls = {"base_url": base, "base_file_url": base.removesuffix("/bot") + "/file/bot"}
        # Every text fitted to Telegram's limits (FittingBot); queue and retry on 429 so no
        # alert is lost to Telegram's flood limits (SPEC §11).
        # One TLS context for both of PTB's clients: each would read the CA bundle again.
        tls = {"verify": httpx.create_ssl_context()}
        bot = FittingBot(token.get_secret_value(),
                         request=HTTPXRequest(connection_pool_size=256, httpx_kwargs=tls),
                         get_updates_request=HTTPXRequest(connection_pool_size=1,
                                                          httpx_kwargs=tls),
                         scrub=self.scrub,
                         rate_limiter=AIORateLimiter(max_retries=5), **urls)
        return ApplicationBuilder().bot(bot).concurrent_updates(True).build()

    def _status_page(self) -> StatusPage | None:
        """The read-only page and JSON API, when `status_page.enabled`; served by `_serve`."""
        page = self.config.status_page
        if not page.enabled:
            return None
        from web.server import StatusPage  # aiohttp's server: loaded only when it is on

        return StatusPage(self.ops.overview, token=(
            page.token.get_secret_value() if page.token is not None else None),
            scrub=self.scrub, serving=self.ready.is_set)

    async def _serve_status_page(self) -> None:
        if self.status_page is None:
            return
        page = self.config.status_page
        try:
            await self.status_page.start(page.host, page.port)
        except OSError as exc:  # the port is taken, the address is not this machine's
            # asyncio's text repeats the address; the errno's own words say it shorter.
            reason = (os.strerror(exc.errno) if isinstance(exc.errno, int) and exc.errno > 0
                      else exc.strerror or str(exc))
            raise StartupError(f"status page: cannot listen on {page.host}:{page.port} "
                               f"(status_page.host/port): {reason}") from None

    def _schedule(self) -> None:
        if self.paper is not None:
            paper = self.paper
            self.jobs.add("paper_market", float(self.config.paper.tick_seconds),
                          self._async(paper.tick), pausable=False,
                          first=float(self.config.paper.tick_seconds))
        if self.member is None:  # (in a cluster: when the account's lease is taken)
            schedule_loops(self.jobs, self.config, self.ops)

    @staticmethod
    def _async(func: Callable[[], None]) -> Callable[[], asyncio.Future[None]]:
        async def run() -> None:
            func()
        return run  # type: ignore[return-value]

    async def serve(self, stop: asyncio.Event | None = None, *, stdin: TextIO | None = None,
                    stdout: TextIO | None = None) -> None:
        """Run until `stop` is set, or, in the console chat, until the input ends. Telegram
        refusing the start (the token, the Bot API out of reach, another bot polling with
        this token) is a StartupError saying so in one line."""
        try:
            await self._serve(stop, stdin, stdout)
        except TelegramError as exc:
            if self.ready.is_set():
                raise
            raise StartupError(_telegram_refusal(exc, self.config.telegram.base_url)) from None
        finally:
            await self.close()
        if self._refusal is not None:
            raise StartupError(self._refusal)

    async def _serve(self, stop: asyncio.Event | None, stdin: TextIO | None,
                     stdout: TextIO | None) -> None:
        app = self.application
        # The console shows the start notice and the stop line too, not only the chat.
        console = ConsoleChat(self.chat, stdin, stdout) if (
            self.chat is not None and stop is None) else None
        announced = False
        membership: asyncio.Task[None] | None = None
        async with app:  # initialize asks getMe: where Telegram checks the token
            try:
                await app.bot.set_my_commands(commands.bot_commands(self.config.language))
                # Before any new command journals a step (in a cluster: per account taken).
                stock = self.ops.recovery.take_stock() if self.member is None else None
                await app.start()
                await self._serve_status_page()
                if console is not None:
                    console.attach()
                await self.ops.status.started()
                announced = True
                if console is not None and self.config.is_demo:  # a newcomer's first screen
                    assert self.chat is not None
                    greeting = app.bot_data[SERVICES_KEY].text("demo_greeting")
                    await app.bot.send_message(self.chat.user["id"], greeting)
                # In the background, since a resumed order may take as long as the order; its
                # maintenances hold their positions before the jobs' first run looks at them.
                if stock is not None:
                    app.create_task(self.ops.recovery.run(stock), name="reconcile")
                await asyncio.sleep(0)
                self.jobs.start()
                if self.member is None:
                    self._watch_streams([a.name for a in self.config.accounts])
                    await self._poll(True)
                else:  # accounts, streams and polling as the leases come
                    membership = app.create_task(self.member.run(), name="cluster")
                    membership.add_done_callback(lambda _: self._left.set())
                self.ready.set()
                if console is not None:  # (no Telegram there, so no other poller either)
                    await console.run()
                else:
                    await _first_set(stop if stop is not None else _on_signals(),
                                     self._refused, self._left)
            finally:
                if self.status_page is not None:  # first: /healthz must not say ok meanwhile
                    await self.status_page.stop()
                if announced:
                    try:
                        await self.ops.status.stopped()
                    except Exception:  # the stop notice must not keep the bot from stopping
                        log.exception("stop_notice_failed")
                if console is not None:
                    console.detach()
                await self.jobs.stop_waking()  # streams change nothing from here on
                await self.ops.followups.stop()  # the next start looks their orders up
                if membership is not None:  # the leases given up: the others take over now
                    membership.cancel()
                    await asyncio.gather(membership, return_exceptions=True)
                if app.updater is not None and app.updater.running:
                    await app.updater.stop()
                if app.running:
                    await app.stop()
        if membership is not None and not membership.cancelled() and membership.exception():
            # Its leases run out by themselves; a supervisor starts the process again.
            raise ClusterLeft("the cluster membership stopped: "
                              f"{membership.exception()!r}") from membership.exception()

    async def _poll(self, on: bool) -> None:
        """Start or stop polling Telegram (in a cluster: its lease taken or lost)."""
        updater = self.application.updater
        assert updater is not None
        if on and not updater.running:
            self._polling_since = time.monotonic()
            await updater.start_polling(
                poll_interval=0, timeout=1 if self.chat is not None else 10,
                allowed_updates=Update.ALL_TYPES, error_callback=self._polling_failed)
        elif not on and updater.running:
            await updater.stop()

    def _watch_streams(self, accounts: list[str]) -> None:
        """Accounts whose venue streams: every price or position change wakes their
        take-profit and hedge loop at once; its schedule stays as the fallback."""
        for account in map(self.config.account, accounts):
            venue = self.venues[account.name]
            if account.streams and isinstance(venue, Streaming):
                venue.watch(functools.partial(self.jobs.wake, f"take_profit:{account.name}"))

    def _polling_failed(self, exc: TelegramError) -> None:
        """PTB retries every polling error; one line each instead of its traceback. Two
        pollers on one token make Telegram end the older poll with 409 Conflict, and the
        older one's retry (PTB backs off up to 30 s) ends the newer one's: a Conflict in our
        first CONFLICT_WINDOW_SECONDS means another bot was polling first, and this one
        refuses to start. The bot already serving keeps polling; the newcomer gives way."""
        if (isinstance(exc, Conflict)
                and time.monotonic() - self._polling_since < CONFLICT_WINDOW_SECONDS):
            self._refusal = _telegram_refusal(exc, self.config.telegram.base_url)
            self._refused.set()
        else:
            log.warning("telegram_polling_failed %s: %s", type(exc).__name__, exc)

    async def close(self) -> None:
        for venue in self.venues.values():
            await venue.close()
        await self.db.dispose_on_loop()
        self.lock.release()


def _on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _first_set(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


def _telegram_refusal(exc: TelegramError, base_url: str | None) -> str:
    """Telegram refusing the start, in one line. Never the text of InvalidToken, which PTB
    writes the token into."""
    where = f"the Bot API at {base_url}" if base_url else "Telegram"
    if isinstance(exc, InvalidToken):
        return f"{where} rejected telegram.token (check it with @BotFather)"
    if isinstance(exc, Conflict):
        return f"another bot is polling {where} with this token ({exc.message})"
    if isinstance(exc, NetworkError) and not isinstance(exc, BadRequest):  # TimedOut too
        return f"cannot reach {where}: {exc.message}"
    return f"{where} refused the start: {type(exc).__name__}: {exc.message}"
