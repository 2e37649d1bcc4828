"""`AsyncStore`: the Store's calls awaited off the event loop.

Every Store call is a short transaction, but on PostgreSQL each is a round trip to a
server, and on either database a call can wait on a lock: run on the event loop, that wait
would hold up every account's jobs and every chat. Here each call runs on the database's
own threads (`Database.thread`) while the loop goes on; each caller awaits its call, so
its calls still run in the order it made them (a journal step before the next one).

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
        self._thread = store.db.thread

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self.sync, name)  # AttributeError for what Store does not have
        if name.startswith("_") or not callable(method):
            raise AttributeError(f"AsyncStore has no {name!r}: only Store's calls")

        @functools.wraps(method)
        async def call(*args: Any, **kwargs: Any) -> Any:
            loop = asyncio.get_running_loop()
            done = loop.run_in_executor(self._thread, functools.partial(method, *args, **kwargs))
            return await _to_its_end(done)

        setattr(self, name, call)  # made once per method
        return call



async def _to_its_end(call: asyncio.Future[Any]) -> Any:
    """The call's result. A caller cancelled meanwhile (a stop, a timeout) hears of it
    once the call has ended: a write that was made is never dropped from the thread's
    queue nor left running unseen, so the journal says what was sent."""
    try:
        return await asyncio.shield(call)
    except asyncio.CancelledError:
        while not call.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([call])
        if not call.cancelled():
            call.exception()  # seen: the cancel is what the caller hears
        raise
