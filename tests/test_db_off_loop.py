"""The running bot's database calls are awaited off the event loop (db/aio.py): a call
that waits on the database holds up nothing else the bot does."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import make_url

from db import Database, Store
from db.aio import AsyncStore

LOCK_SECONDS = 1.0


@contextlib.contextmanager
def writes_locked(url: str) -> Iterator[None]:
    """Another client holds the database's write lock (SQLite) or the settings table's
    (PostgreSQL) for LOCK_SECONDS, from when the block starts."""
    taken, failed = threading.Event(), []

    def hold() -> None:
        try:
            if url.startswith("sqlite"):
                connection = sqlite3.connect(make_url(url).database, isolation_level=None)
                connection.execute("BEGIN IMMEDIATE")
            else:
                connection = psycopg.connect(
                    make_url(url).set(drivername="postgresql").render_as_string(
                        hide_password=False))
                connection.execute("LOCK TABLE settings IN EXCLUSIVE MODE")  # reads go on
            taken.set()
            time.sleep(LOCK_SECONDS)
            connection.commit()
            connection.close()
        except Exception as exc:  # the test says so instead of waiting forever
            failed.append(exc)
            taken.set()

    holder = threading.Thread(target=hold)
    holder.start()
    taken.wait(10)
    assert not failed, failed
    try:
        yield
    finally:
        holder.join()


async def longest_stall(until: asyncio.Future) -> float:
    """The longest the event loop went without running this task, until `until` ends."""
    longest, last = 0.0, time.monotonic()
    while not until.done():
        await asyncio.sleep(0.01)
        now = time.monotonic()
        longest, last = max(longest, now - last), now
    return longest


@pytest.fixture
def store(database_url):
    db = Database(database_url)
    yield AsyncStore(Store(db))
    db.dispose()


@pytest.fixture
def postgresql_url(postgres):
    url = postgres.new_database()
    yield url
    postgres.drop(url)


async def test_a_write_waiting_on_a_lock_leaves_the_event_loop_free(store, database_url):
    with writes_locked(database_url):
        began = time.monotonic()
        write = asyncio.ensure_future(store.set_setting("client_prefix", "b123456"))
        stall = await longest_stall(write)
        waited = time.monotonic() - began
    await write

    assert waited >= LOCK_SECONDS * 0.8, "the write did wait for the lock"
    assert stall < 0.25, f"the event loop stood still {stall:.2f} s"
    assert store.sync.get_setting("client_prefix") == "b123456"


async def test_a_caller_stopped_while_its_write_waits_still_has_it_written(
        store, database_url):
    """The bot stopping cancels what runs: a journal write already made is not dropped
    (nor left running unseen); the caller hears of the stop once it is written."""
    with writes_locked(database_url):
        began = time.monotonic()
        write = asyncio.ensure_future(store.set_setting("client_prefix", "b123456"))
        await asyncio.sleep(0.1)
        write.cancel()
        with pytest.raises(asyncio.CancelledError):
            await write
        stopped_after = time.monotonic() - began

    assert stopped_after >= LOCK_SECONDS * 0.8
    assert store.sync.get_setting("client_prefix") == "b123456"


async def test_on_postgresql_a_read_does_not_queue_behind_a_write_waiting_on_a_lock(
        postgresql_url):
    # (SQLite has one writer, in one bot process: its calls take one thread)
    db = Database(postgresql_url)
    store = AsyncStore(Store(db))
    store.sync.set_setting("language", "zh")
    with writes_locked(postgresql_url):
        write = asyncio.ensure_future(store.set_setting("client_prefix", "b123456"))
        await asyncio.sleep(0.05)  # the write is waiting
        began = time.monotonic()
        language = await store.language()
        read_in = time.monotonic() - began
        assert not write.done()
    await write
    db.dispose()

    assert language == "zh" and read_in < 0.5


def test_only_the_store_s_calls_are_offered(store):
    with pytest.raises(AttributeError, match="only Store's calls"):
        store._db  # noqa: B018
