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

from bot import messages
from bot.busy import BusyPositions
from bot.config import Config, RuleMode, WatcherMode
from bot.execution import Executor, FollowSettings
from bot.instance_lock import AlreadyRunning, InstanceLock
from bot.venues.base import Venue
from bot.venues.factory import PaperRuntime, VenueSetupError, build_venues
from db.records import ActionRecord, StepRecord
from db.repo import Store
from db.session import Database
from handlers import commands, maintain
from handlers import watcher as watcher_answers
from handlers.common import SERVICES_KEY, Services, send_alert
from handlers.console import ConsoleChat
from handlers.local_chat import LocalChat
from handlers.local_transport import local_application_builder
from jobs.positions import log_position_changes
from jobs.profit_rules import ProfitRules
from jobs.scheduler import Jobs, PauseSwitch
from jobs.watcher import PositionWatcher

log = logging.getLogger(__name__)

POSITION_LOG_SECONDS = 30
MAINTENANCE_KINDS = ("maintain", "supermaintain")


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
        self._alerted_problems: dict[str, str] = {}  # job -> the failure last alerted
        self.lock = InstanceLock(config.database.url)
        try:
            self.db = Database(config.database.url)
            self.db.migrate()
            self.store = Store(self.db, clock=clock)
            self.venues: dict[str, Venue]
            self.paper: PaperRuntime | None
            self.venues, self.paper = build_venues(config, clock, base_dir)
            self.application = self._telegram()
            self.pause = PauseSwitch(self.store.is_paused(), self.store.set_paused)
            assert self.application.job_queue is not None, "python-telegram-bot[job-queue] missing"
            self.jobs = Jobs(self.application.job_queue, self.pause, on_error=self._job_failed)
            close = config.rules.close
            self.executor = Executor(self.store, client_prefix=self._client_prefix(), follow=(
                # the first wait after a rate limit or outage is one poll interval too
                FollowSettings(timeout_seconds=close.follow_timeout_seconds,
                               poll_seconds=float(close.follow_poll_seconds),
                               backoff_seconds=float(close.follow_poll_seconds))))
            self.busy = BusyPositions()
            self.application.bot_data[SERVICES_KEY] = Services(
                config=config, store=self.store, venues=self.venues, jobs=self.jobs,
                pause=self.pause, clock=clock, executor=self.executor, busy=self.busy)
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
        for name, venue in self.venues.items():
            self.jobs.add(f"position_log:{name}", POSITION_LOG_SECONDS,
                          lambda v=venue: log_position_changes(v, self.store))
        for account in self.config.accounts:
            modes = {account.rule_mode("take_profit"), account.rule_mode("hedge")}
            if modes == {RuleMode.OFF}:
                continue
            rules = ProfitRules(self.config, account, self.venues[account.name], self.store,
                                self.executor, self.notify, self.clock, self.busy)
            self.jobs.add(f"take_profit:{account.name}",
                          self.config.rules.take_profit.interval_seconds, rules.run)
        services = self.application.bot_data[SERVICES_KEY]
        bot = self.application.bot
        for account in self.config.accounts:
            if account.rules.watcher is WatcherMode.OFF:
                continue
            watcher = PositionWatcher(
                self.config, account, self.venues[account.name], self.store, self.clock,
                self.busy, ask=lambda p: watcher_answers.watcher_ask(services, bot, p),
                auto=lambda p: watcher_answers.watcher_auto(services, bot, p))
            self.jobs.add(f"watcher:{account.name}",
                          self.config.rules.maintenance.watcher.interval_seconds, watcher.run)

    @staticmethod
    def _async(func: Callable[[], None]) -> Callable[[], asyncio.Future[None]]:
        async def run() -> None:
            func()
        return run  # type: ignore[return-value]

    def _job_failed(self, name: str, exc: BaseException) -> None:
        problem = f"{type(exc).__name__}: {exc}"[:500]
        self.store.record_event("job_failed", f"{name}: {problem}", severity="error",
                                data={"job": name})
        # One alert per problem, not one per run: a job failing every 10 s says it once.
        if self._alerted_problems.get(name) != problem:
            self._alerted_problems[name] = problem
            self.application.create_task(self.notify("system", messages.text(
                self.store.language(self.config.language), "job_failed_alert",
                job=name, problem=problem)))

    async def serve(self, stop: asyncio.Event | None = None, *, stdin: TextIO | None = None,
                    stdout: TextIO | None = None) -> None:
        """Run until `stop` is set, or, in the console chat, until the input ends."""
        app = self.application
        async with app:
            await app.bot.set_my_commands(commands.bot_commands(self.config.language))
            unfinished = self.store.unfinished_steps(), self.store.unfinished_actions()
            await app.start()
            self.jobs.start()
            assert app.updater is not None
            await app.updater.start_polling(
                poll_interval=0, timeout=1 if self.chat is not None else 10,
                allowed_updates=Update.ALL_TYPES)
            # Taken before any new command could journal a step of its own; followed in
            # the background, since a resumed order may take as long as the order.
            app.create_task(self._reconcile(*unfinished), name="reconcile")
            log.info("bot_started accounts=%s demo=%s", ",".join(self.venues),
                     self.config.is_demo)
            try:
                if stop is not None:
                    await stop.wait()
                elif self.chat is not None:
                    await ConsoleChat(self.chat, stdin, stdout).run()
                else:
                    await _until_signalled()
            finally:
                await app.updater.stop()
                await app.stop()
                await self.close()
                log.info("bot_stopped")

    async def _reconcile(self, steps: list[StepRecord], actions: list[ActionRecord]) -> None:
        """What a previous run left unfinished: a maintenance is resumed from its journal
        (no filled step runs twice); any other action's orders are looked up by client id,
        followed to their end and reported."""
        services = self.application.bot_data[SERVICES_KEY]
        maintenance = [a for a in actions if a.kind in MAINTENANCE_KINDS]
        if self.pause.paused:  # a resume is an automatic action: offer it instead
            for action in maintenance:
                await maintain.offer_retry(services, self.application.bot, action)
        else:  # together, so each holds its position before any job looks at it
            await asyncio.gather(*(
                maintain.run_action(services, self.application.bot, a.id, a.plan, a.chat_id,
                                    a.message_id) for a in maintenance))
        resumed = {a.id for a in maintenance}
        steps = [st for st in steps if st.action_id not in resumed]
        if not steps:
            return
        # Every step's own action says its account, whatever state the action is in: a
        # maintenance stopped on an error may still have an order of unknown fate.
        owners = {st.action_id: self.store.action_with_steps(st.action_id) for st in steps}
        accounts = {a_id: a.account for a_id, a in owners.items() if a is not None}
        lines = await self.executor.reconcile(self.venues, steps, accounts)
        for action_id in {step.action_id for step in steps}:
            action = self.store.action_with_steps(action_id)
            if action is None or action.state.is_final:
                continue
            states = {st.state for st in action.steps}
            if states & {"intended", "sent"}:
                continue  # still unknown: the next start looks again
            self.store.update_action(action_id, state="partial" if "failed" in states
                                     else "done")
        self.store.record_event("reconciled", "; ".join(lines)[:500], severity="warning")
        await self.notify("system", messages.text(
            self.store.language(self.config.language), "reconciled",
            lines="\n".join(lines)))

    async def notify(self, kind: str, text: str) -> None:
        await send_alert(self.application.bot, self.config, kind, text)

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
