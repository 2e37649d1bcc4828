"""`AsyncStore`: the Store's calls awaited off the event loop.

Every Store call is a short transaction, but on PostgreSQL each is several round trips to
a server, and on either database a call can wait on a lock: run on the event loop, that
wait would hold up every account's jobs and every chat.

- SQLite: each call runs on the database's own thread (`Database.thread`) while the loop
  goes on; one thread, so calls run in the order made and the file has one writer.
- PostgreSQL: each call runs as it is written, synchronously, inside SQLAlchemy's greenlet
  bridge, over psycopg's asyncio connections (`Database.on_loop`): every round trip is
  awaited on the event loop. Threads were measured and dropped here: with the loop busy
  serving 150 accounts, a thread waited for the interpreter lock after every round trip,
  and the accounts served fell from 139 to 30 (README, *Performance*).

Either way a caller awaits its call, so its calls run in the order it made them (a
journal step before the next one), and a caller cancelled meanwhile (the bot stopping, a
timeout) hears of it once the call has ended: a write that was made is never dropped nor
left running unseen.

The synchronous Store stays for what runs before the loop does (start-up, migrations) and
for tests, which set up and read the database directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from db.repo import Store


class AsyncStore:
    """`await store.get_rule_state(...)`: every public method of `Store`, as a coroutine."""

    def __init__(self, store: Store) -> None:
        self.sync = store
        db = store.db
        if db.on_loop is None:
            self._on_loop: Store | None = None
            self._thread = db.thread
        else:
            self._on_loop = Store(db.on_loop, clock=store.clock)

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self.sync, name)  # AttributeError for what Store does not have
        if name.startswith("_") or not callable(method):
            raise AttributeError(f"AsyncStore has no {name!r}: only Store's calls")
        if self._on_loop is not None:
            from sqlalchemy.util import greenlet_spawn

            bridged = getattr(self._on_loop, name)

            async def call(*args: Any, **kwargs: Any) -> Any:
                # its own task: a cancelled caller does not cut the transaction short
                return await _to_its_end(asyncio.ensure_future(
                    greenlet_spawn(bridged, *args, **kwargs)))
        else:
            async def call(*args: Any, **kwargs: Any) -> Any:
                loop = asyncio.get_running_loop()
                return await _to_its_end(loop.run_in_executor(
                    self._thread, functools.partial(method, *args, **kwargs)))

        functools.update_wrapper(call, method)
        setattr(self, name, call)  # made once per method
        return call


async def _to_its_end(call: asyncio.Future[Any]) -> Any:
    """The call's result. A caller cancelled meanwhile hears of it once the call has
    ended, so the journal says what was sent."""
    try:
        return await asyncio.shield(call)
    except asyncio.CancelledError:
        while not call.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([call])
        if not call.cancelled():
            call.exception()  # seen: the cancel is what the caller hears
        raise
