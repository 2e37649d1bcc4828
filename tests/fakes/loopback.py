"""What every fake venue server shares: an aiohttp server on a loopback port for the
length of an `async with`, serving a `PaperExchange`, with the requests it saw, the
exceptions its routes did not expect, and the two faults that are about time rather
than about a venue: latency, and a request held unanswered (a client's timeout).

A subclass answers each request in `_handle`; every path reaches it.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Generic, Self, TypeVar

from aiohttp import web

from bot.venues.paper.engine import PaperExchange

HANG_SECONDS = 30.0  # an unanswered request is held this long at most (or until close)

RecordT = TypeVar("RecordT")


class LoopbackServer(Generic[RecordT], ABC):
    """`requests` holds one `RecordT` per request, in the shape the subclass records."""

    def __init__(self, exchange: PaperExchange, host: str) -> None:
        self.exchange = exchange
        self.host, self.port = host, 0
        self.requests: list[RecordT] = []
        self.errors: list[BaseException] = []  # exceptions a route did not expect
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self._closing.set()  # releases the requests held unanswered
        if self._runner is not None:
            await self._runner.cleanup()

    @abstractmethod
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        """The answer to any request (every path and method comes here)."""

    async def _latency(self) -> None:
        """The engine's latency fault: every request waits this long before its answer."""
        if self.exchange.faults.latency_seconds:
            await asyncio.sleep(self.exchange.faults.latency_seconds)

    async def _hang(self) -> None:
        """Never answer (until the server closes): what the client sees as a timeout."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), HANG_SECONDS)
