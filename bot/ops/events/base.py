"""The base of every event, and the bus that records, logs and delivers them.

An op publishes; the bus writes the event to the database, logs one line, and hands it
to the fronts that subscribed (the Telegram alerts, later a status page), which render it
in their own words. `alert` names the `telegram.alerts` kind an event is pushed under
(None: recorded, not pushed). An event marked `repeat` is a problem the user was already
told about: recorded and logged, never delivered again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bot.domain import Position
from db.aio import AsyncStore
from db.records import Severity

log = logging.getLogger("bot.events")


@dataclass(frozen=True, kw_only=True)
class Event:
    name: ClassVar[str]
    alert: ClassVar[str | None] = None
    severity: ClassVar[Severity] = Severity.INFO
    recorded: ClassVar[bool] = True  # progress is shown, not recorded
    repeat: bool = False

    @property
    def account(self) -> str | None:
        return None

    @property
    def symbol(self) -> str | None:
        return None

    @property
    def side(self) -> str | None:
        return None

    @property
    def action_id(self) -> int | None:
        return None

    def message(self) -> str:
        """The line the log and the events table keep: plain English, exact numbers."""
        return self.name

    def data(self) -> dict[str, Any] | None:
        return None


@dataclass(frozen=True, kw_only=True)
class PositionEvent(Event):
    """An event about one position; `position` as the op read it."""

    position: Position
    action: int | None = None

    @property
    def account(self) -> str:
        return self.position.account

    @property
    def symbol(self) -> str:
        return self.position.symbol

    @property
    def side(self) -> str:
        return self.position.side.value

    @property
    def action_id(self) -> int | None:
        return self.action


Subscriber = Callable[[Event], Awaitable[None]]

_LEVELS = {Severity.INFO: logging.INFO, Severity.WARNING: logging.WARNING,
           Severity.ERROR: logging.ERROR}


@dataclass(slots=True)
class EventBus:
    """Records every event, logs it in one line, and delivers it to the fronts."""

    store: AsyncStore
    subscribers: list[Subscriber] = field(default_factory=list)
    # Masks configured secrets in what is recorded: a venue's error text may repeat a key.
    scrub: Callable[[str], str] | None = None

    def subscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.append(subscriber)

    async def publish(self, event: Event) -> None:
        await self.publish_all([event])

    async def publish_all(self, events: Sequence[Event]) -> None:
        """Several events, recorded in one transaction, then each logged and delivered
        in order."""
        recorded = [(event, self._message(event)) for event in events if event.recorded]
        if recorded:
            await self.store.record_events([
                {"name": e.name, "message": message, "account": e.account,
                 "symbol": e.symbol, "side": e.side, "severity": e.severity,
                 "data": e.data(), "action_id": e.action_id} for e, message in recorded])
        for event, message in recorded:
            line = " ".join(x for x in (event.account, event.symbol, event.side, message)
                            if x)
            log.log(_LEVELS[Severity(event.severity)], "%s %s%s", event.name, line,
                    " (repeat)" if event.repeat else "")
        for event in events:
            if event.repeat:
                continue
            for deliver in self.subscribers:
                try:
                    await deliver(event)
                except Exception:  # showing an event must never stop the op that had it
                    log.exception("event_not_delivered name=%s", event.name)

    def _message(self, event: Event) -> str:
        message = event.message()[:500]
        return self.scrub(message) if self.scrub is not None else message
