"""Bounded exponential backoff for venue calls, shared by the network adapters.

Reads are retried on rate limits and outages: asking again cannot change anything.
Writes are retried only on a rate limit, which is the venue saying it did *not* take the
request; any other failure of a write leaves its outcome unknown, and the executor looks
the order up by client id instead of sending it again (SPEC §8).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.venues.base import RateLimited, VenueUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

READ_RETRY_ON: tuple[type[Exception], ...] = (RateLimited, VenueUnavailable)
WRITE_RETRY_ON: tuple[type[Exception], ...] = (RateLimited,)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4  # calls in all, the first included
    first_delay: float = 0.5  # seconds before the second call; doubles each time
    max_delay: float = 8.0


async def retrying(call: Callable[[], Awaitable[T]], *, policy: RetryPolicy,
                   retry_on: tuple[type[Exception], ...], what: str,
                   sleep: Sleep = asyncio.sleep) -> T:
    delay = policy.first_delay
    for attempt in range(1, policy.attempts + 1):
        try:
            return await call()
        except retry_on as exc:
            if attempt >= policy.attempts:
                raise
            log.warning("venue_retry call=%s attempt=%d delay=%.2f error=%s", what, attempt,
                        delay, exc)
        await sleep(delay)
        delay = min(delay * 2, policy.max_delay)
    raise AssertionError("unreachable")
