"""What every use case works with, built once by the composition root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.busy import BusyPositions
from bot.config import Config
from bot.execution import Executor
from bot.ops.events import Event, EventBus
from bot.ops.open_alerts import OpenAlerts
from bot.ops.refusal import Refusal
from bot.venues.base import Venue
from db.aio import AsyncStore
from db.repo import Store

VENUE_READ_TIMEOUT = 10.0  # seconds a report waits for one venue before saying it is down


class PauseSwitch:
    """The global pause: in memory for the jobs' hot path, persisted by `save`."""

    def __init__(self, paused: bool,
                 save: Callable[[bool, int | None], Awaitable[None]]) -> None:
        self._paused = paused
        self._save = save

    @property
    def paused(self) -> bool:
        return self._paused

    async def set(self, paused: bool, by_user: int | None = None) -> None:
        if paused:
            self._paused = True  # at once: no job starts while it is being saved
        await self._save(paused, by_user)
        self._paused = paused

    def reload(self, paused: bool) -> None:
        """Another process of a cluster paused or resumed: as stored."""
        self._paused = paused


@dataclass(slots=True)
class Context:
    config: Config
    store: AsyncStore
    venues: Mapping[str, Venue]
    executor: Executor
    busy: BusyPositions
    clock: Callable[[], datetime]
    events: EventBus
    alerts: OpenAlerts
    pause: PauseSwitch

    @classmethod
    def build(cls, config: Config, store: Store, venues: Mapping[str, Venue],
              executor: Executor, clock: Callable[[], datetime],
              scrub: Callable[[str], str] | None = None) -> Context:
        """A context with its own event bus (masking secrets with `scrub`), busy set,
        alert memory and pause switch (the pause as the database has it). Built before the
        bot serves: what it reads from `store` then is read directly."""
        aio = AsyncStore(store)
        return cls(config, aio, venues, executor, BusyPositions(), clock,
                   EventBus(aio, scrub=scrub),
                   OpenAlerts(aio, clock), PauseSwitch(store.is_paused(), aio.set_paused))

    def venue(self, account: str) -> Venue:
        try:
            return self.venues[account]
        except KeyError:
            raise Refusal("unknown_account", name=account[:40],
                          names=", ".join(self.venues)) from None

    async def publish(self, event: Event) -> None:
        await self.events.publish(event)

    async def publish_all(self, events: Sequence[Event]) -> None:
        """Several events recorded in one transaction (a run that saw many changes)."""
        await self.events.publish_all(events)
