"""The instrument list a network venue adapter keeps: loaded once, and loaded again when
a symbol is not in it (a new listing), at most every `refresh_seconds`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable

from bot.domain import Instrument

Loader = Callable[[bool], Awaitable[Iterable[Instrument | None]]]  # (is a reload) -> specs


class InstrumentCache:
    def __init__(self, load: Loader, refresh_seconds: float) -> None:
        self._load = load
        self._refresh_seconds = refresh_seconds
        self._by_symbol: dict[str, Instrument] | None = None
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    async def all(self) -> list[Instrument]:
        cache = self._by_symbol if self._by_symbol is not None else await self._refresh()
        return list(cache.values())

    async def get(self, symbol: str) -> Instrument | None:
        cache = self._by_symbol
        if cache is None or symbol not in cache:
            cache = await self._refresh()  # a new listing: look again
        return cache.get(symbol)

    async def _refresh(self) -> dict[str, Instrument]:
        async with self._lock:
            fresh = time.monotonic() - self._loaded_at < self._refresh_seconds
            if self._by_symbol is not None and fresh:
                return self._by_symbol
            found = await self._load(self._by_symbol is not None)
            self._by_symbol = {i.symbol: i for i in found if i is not None}
            self._loaded_at = time.monotonic()
            return self._by_symbol
