"""Engine, sessions and migrations for one database URL.

Synchronous. The running bot's calls go through `db.aio.AsyncStore`, so that none of them
holds up the event loop: on SQLite to a thread of the database's own (`Database.thread`),
on PostgreSQL over psycopg's asyncio connections (`Database.on_loop`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, inspect, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from bot.secrecy import private_file, private_folder
from db.types import to_decimal

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The newest migration's revision (tests/test_db.py holds it to alembic's head). A start
# on a database already there skips alembic, a third of a second of imports.
SCHEMA_HEAD = "0003"
MIGRATION_LOCK = 0x616E63686F72  # a PostgreSQL advisory lock's key: "anchor"
BUSY_TIMEOUT_MS = 5000
ON_LOOP_CONNECTIONS = 8  # PostgreSQL: the running bot's calls at once (db/aio.py)


def _json_default(value: Any) -> Any:
    # JSON columns (plans, payloads, rule state) routinely carry sizes and prices. Decimals
    # are written as exact strings, which the reader turns back with Decimal(...).
    if isinstance(value, Decimal):
        return str(to_decimal(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_dumps(value: Any) -> str:
    # allow_nan=False: a NaN in JSON is not JSON, and some readers choke on it later.
    return json.dumps(value, default=_json_default, ensure_ascii=False, allow_nan=False)


def _is_memory_sqlite(url: URL) -> bool:
    database = url.database or ""
    if database in ("", ":memory:"):
        return True
    return database.startswith("file:") and "mode=memory" in database


class DriverMissing(Exception):
    """The URL names a database driver that is not installed."""


def _private_sqlite_files(path: Path) -> None:
    """The database, its folder and SQLite's side files readable by the owner only: SQLite
    creates the -wal, -shm and -journal files with the database file's mode."""
    private_file(private_folder(path.parent) / path.name)
    for suffix in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.chmod(0o600)


class Database:
    """One engine plus the session factory and migration runner bound to it."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo, "json_serializer": json_dumps}
        if self.is_sqlite:
            if _is_memory_sqlite(self.url):
                # Each new connection to :memory: is a new, empty database: keep exactly
                # one, usable from any thread. Meant for tests and demos: threads share
                # that one connection, so it is no place for concurrent writers.
                kwargs["poolclass"] = StaticPool
                kwargs["connect_args"] = {"check_same_thread": False}
            elif not (self.url.database or "").startswith("file:"):
                _private_sqlite_files(Path(self.url.database or "").expanduser().resolve())
        try:
            self.engine: Engine = create_engine(self.url, **kwargs)
        except ImportError as exc:  # create_engine imports the driver
            raise DriverMissing(f"the driver for {self.url.drivername} is not installed "
                                f"({exc})") from None
        if self.is_sqlite:
            self._configure_sqlite(self.engine, wal=not _is_memory_sqlite(self.url))
        self._sessions, self._readers = self._factories(self.engine)
        self._thread: ThreadPoolExecutor | None = None
        self.on_loop = None if self.is_sqlite else self._on_loop(echo)

    def _on_loop(self, echo: bool) -> Database:
        """PostgreSQL: this database as the running bot uses it, through psycopg's asyncio
        connections. The same sessions, models and listeners, but usable only inside
        SQLAlchemy's greenlet bridge (`db.aio`), where each round trip to the server is
        awaited on the event loop."""
        from sqlalchemy.ext.asyncio import create_async_engine  # (SQLite has no use for it)

        view = copy.copy(self)
        # A fixed pool: beyond it a call waits for a connection (on the loop) instead of
        # opening one for a moment — a new server process each time, which under load
        # cost more than the calls.
        view.engine = create_async_engine(self.url, echo=echo, pool_size=ON_LOOP_CONNECTIONS,
                                          max_overflow=0, json_serializer=json_dumps
                                          ).sync_engine
        view._sessions, view._readers = self._factories(view.engine)
        view.on_loop = None
        return view

    def _factories(self, engine: Engine) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
        """`session`'s and `reading`'s. Reads on the hot path (every rule run) take no
        write lock on SQLite; on PostgreSQL a read is one statement in autocommit: one
        round trip, not three (BEGIN and ROLLBACK around it)."""
        reads = {"read_only": True} if self.is_sqlite else {"isolation_level": "AUTOCOMMIT"}
        return (sessionmaker(engine, expire_on_commit=False),
                sessionmaker(engine.execution_options(**reads), expire_on_commit=False))

    @property
    def thread(self) -> ThreadPoolExecutor:
        """SQLite: the one thread the running bot's calls take turns on (one bot process
        writes the file; calls run in the order made). Made when first asked for."""
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="database")
        return self._thread

    @staticmethod
    def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take BEGIN away from the sqlite3 driver: in its legacy mode a SELECT runs
            # outside any transaction, so read-then-write (upserts, the confirmation
            # check) would not be atomic. We emit BEGIN ourselves below.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA foreign_keys=ON")  # off by default, per connection
                cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                if wal:
                    # Readers do not block the writer and vice versa; the status page
                    # and the jobs read while a job writes.
                    cursor.execute("PRAGMA journal_mode=WAL")
                    cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL
            finally:
                cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            # IMMEDIATE takes the write lock up front, so two writers queue on
            # busy_timeout instead of one failing with "database is locked" when it
            # upgrades a read lock mid-transaction. A read-only unit needs no lock (WAL
            # gives it a snapshot), and taking one per rule run was a third of the bot's
            # time at 200 accounts.
            read_only = connection.get_execution_options().get("read_only")
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    @property
    def session_factories(self) -> list[sessionmaker[Session]]:
        """The factories of `session`'s units, this one's and `on_loop`'s (for listeners
        on their writes)."""
        return [self._sessions, *([self.on_loop._sessions] if self.on_loop else [])]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commit when the block ends normally, roll back on error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A unit of one read statement: no write lock taken on SQLite, no transaction
        around it on PostgreSQL. Writing in it is a bug."""
        session = self._readers()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def alembic_config(self) -> Config:
        """Alembic configuration built in code: no alembic.ini needed at run time."""
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        # Escape %: ConfigParser would read it as interpolation (URL-encoded passwords).
        url = self.url.render_as_string(hide_password=False).replace("%", "%%")
        config.set_main_option("sqlalchemy.url", url)
        return config

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to `revision`; a no-op when it is already there. A new, empty
        database gets the head schema made from the models at once, stamped as alembic
        would: a first start spends no third of a second on alembic and every migration
        (tests/test_db.py holds the two schemas equal)."""
        if revision == "head" and self._stamped() == [SCHEMA_HEAD]:
            return
        self.upgrade(revision, from_models=revision == "head")

    def upgrade(self, revision: str = "head", *, from_models: bool = False) -> None:
        """Run alembic's migrations up to `revision` (or, `from_models`, on a database
        with no tables yet: create the head schema from the models and stamp it)."""
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Processes of a cluster start together: one migrates, the others wait for
                # it here and then find the schema at `revision`.
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            if from_models and not inspect(connection).get_table_names():
                from db.models import Base

                Base.metadata.create_all(connection)
                connection.exec_driver_sql("CREATE TABLE alembic_version (version_num "
                                           "VARCHAR(32) NOT NULL PRIMARY KEY)")
                connection.exec_driver_sql(
                    f"INSERT INTO alembic_version (version_num) VALUES ('{SCHEMA_HEAD}')")
                return
            from alembic import command

            config = self.alembic_config()
            # Sharing our connection is what makes in-memory SQLite work, and keeps the
            # pragmas above in force during the migration.
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def _stamped(self) -> list[str]:
        """The revisions alembic wrote down, read without alembic."""
        with self.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return []
            return list(connection.exec_driver_sql(
                "SELECT version_num FROM alembic_version").scalars())

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def dispose(self) -> None:
        """Close the connections, after the calls already made have run (`on_loop`'s:
        see `dispose_on_loop`; here they are only let go)."""
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        if self.on_loop is not None:
            self.on_loop.engine.dispose(close=False)
        self.engine.dispose()

    async def dispose_on_loop(self) -> None:
        """`dispose`, with `on_loop`'s connections closed as they should be: on the loop."""
        if self.on_loop is not None:
            from sqlalchemy.util import greenlet_spawn

            await greenlet_spawn(self.on_loop.engine.dispose)
        self.dispose()
