"""The use cases of `bot.ops` driven directly, with no front: what the test_ops_* modules share.

`make_rig(store, ...)` builds what the composition root builds, minus Telegram and the
scheduler: a config (paper accounts main and sub1, every rule off unless a test turns it
on), a paper exchange (marks held still, 1000 USDT per account, APT at 5), a `Context`
with a real `Executor` on the test's `Store`, and the `Ops`. The rig keeps every event
published (`published`, repeats included) and every event a front would have been handed
(`delivered`). `rig.restart()` builds a fresh Context and Ops on the same database and
exchange, as a restarted bot would. Nothing here imports python-telegram-bot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from bot.config import Config, parse_config
from bot.domain import OrderSide, Position, Side
from bot.execution import Executor, FollowSettings
from bot.ops.context import Context
from bot.ops.events import Event, EventBus
from bot.ops.ops import Ops
from bot.ops.status import JobStatus
from bot.venues.base import Venue
from bot.venues.paper import PaperExchange, PaperVenue
from bot.venues.paper.demo import new_exchange
from db.aio import AsyncStore
from db.repo import Store

D = Decimal
APT = "APT-USDT-SWAP"
SOL = "SOL-USDT-SWAP"
BTC = "BTC-USDT-SWAP"
FOLLOW = FollowSettings(poll_seconds=0.01, backoff_seconds=0.01, timeout_seconds=5,
                        poll_max_seconds=0.05, late_window_seconds=0.2)
START = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)

E = TypeVar("E", bound=Event)
OrderRow = tuple[str, str, OrderSide, Side, Decimal, bool]


class Clock:
    """The bot's clock, moved only by the test."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Board:
    """The jobs' board as the scheduler would report it."""

    def __init__(self, statuses: Iterable[JobStatus] = ()) -> None:
        self.jobs = list(statuses)

    def statuses(self) -> list[JobStatus]:
        return list(self.jobs)

    def status(self, name: str) -> JobStatus | None:
        return next((s for s in self.jobs if s.name == name), None)


class RecordingBus(EventBus):
    """The bus the composition root builds, also keeping every event published."""

    def __init__(self, store: AsyncStore) -> None:
        super().__init__(store)
        self.published: list[Event] = []

    async def publish_all(self, events: Sequence[Event]) -> None:
        self.published.extend(events)
        await super().publish_all(events)


def make_config(*, main: Mapping[str, Any] | None = None, sub1: Mapping[str, Any] | None = None,
                rules: Mapping[str, Any] | None = None,
                accounts: Mapping[str, Mapping[str, Any]] | None = None,
                grids: list[Mapping[str, Any]] | None = None) -> Config:
    """main (role main) and sub1 (role sub) on the paper venue. `main`/`sub1` set that
    account's rule switches over take_profit and hedge off (watcher: the default, ask);
    `rules` is the config's `rules:` section (the close polls quickly unless it says
    otherwise); `accounts` adds keys to an account's entry (e.g. its own take_profit);
    `grids` is the config's `grids:`."""
    def account(name: str, role: str, switches: Mapping[str, Any] | None) -> dict[str, Any]:
        return {"name": name, "role": role, "venue": "paper",
                "rules": {"take_profit": False, "hedge": False, **(switches or {})},
                **(accounts or {}).get(name, {})}

    sections = dict(rules or {})
    sections["close"] = {"follow_poll_seconds": "0.01", "batch_interval_seconds": "0",
                         **sections.get("close", {})}
    return parse_config({
        "language": "en",
        "accounts": [account("main", "main", main), account("sub1", "sub", sub1)],
        "rules": sections,
        "grids": list(grids or []),
    })


def make_exchange(clock: Clock, cash: Mapping[str, Decimal] | None = None) -> PaperExchange:
    exchange = new_exchange(clock=clock)
    exchange.market.freeze()
    exchange.set_mark(APT, D("5"))
    for name, amount in (cash or {"main": D(1000), "sub1": D(1000)}).items():
        exchange.add_account(name, amount)
    return exchange


@dataclass
class Rig:
    config: Config
    store: Store
    exchange: PaperExchange
    clock: Clock
    board: Board = field(default_factory=Board)
    delivered: list[Event] = field(default_factory=list)
    # An account's venue (default: the paper exchange itself; e.g. a network adapter
    # talking to a fake server that serves it). A restart builds them again.
    venue_of: Callable[[str], Venue] | None = None

    def __post_init__(self) -> None:
        venue_of = self.venue_of or (lambda name: PaperVenue(self.exchange, name))
        venues = {a.name: venue_of(a.name) for a in self.config.accounts}
        executor = Executor(AsyncStore(self.store), client_prefix="t", follow=FOLLOW)
        self.ctx = Context.build(self.config, self.store, venues, executor, self.clock)
        self.bus = RecordingBus(self.ctx.store)
        self.ctx.events = self.bus
        self.ctx.events.subscribe(self._deliver)
        self.ops = Ops(self.ctx, self.board)

    async def _deliver(self, event: Event) -> None:
        self.delivered.append(event)

    def restart(self) -> Rig:
        """A new Context and Ops on the same store and exchange: the bot restarted."""
        return Rig(self.config, self.store, self.exchange, self.clock, self.board,
                   venue_of=self.venue_of)

    @property
    def published(self) -> list[Event]:
        return self.bus.published

    @property
    def venues(self) -> Mapping[str, PaperVenue]:
        return self.ctx.venues  # type: ignore[return-value]

    def seed(self, account: str, symbol: str, side: Side, size: str, entry: str = "5",
             leverage: str = "10") -> None:
        self.exchange.seed_position(account, symbol, side, D(size), D(entry), D(leverage))

    def mark(self, symbol: str, price: str) -> None:
        self.exchange.set_mark(symbol, D(price))

    def position(self, account: str, symbol: str = APT, side: Side = Side.LONG
                 ) -> Position | None:
        return next((p for p in self.exchange.positions(account)
                     if p.symbol == symbol and p.side is side), None)

    def orders(self) -> list[OrderRow]:
        """What reached the exchange, in the order placed:
        (account, symbol, side, position side, size, reduce-only)."""
        placed = sorted(self.exchange.orders.values(), key=lambda o: int(o.venue_id))
        return [(o.account, o.symbol, o.side, o.position_side, o.size, o.reduce_only)
                for o in placed]

    def of(self, kind: type[E], *, delivered: bool = False) -> list[E]:
        """The events of one class, as published (or only those delivered to a front)."""
        return [e for e in (self.delivered if delivered else self.published)
                if isinstance(e, kind)]

    def names(self, *, delivered: bool = False) -> list[str]:
        return [e.name for e in (self.delivered if delivered else self.published)]

    def recorded(self, name: str, limit: int = 100) -> list[Any]:
        """The events table's rows of that name, oldest first."""
        return list(reversed(self.store.recent_events(limit, name=name)))


def make_rig(store: Store, config: Config | None = None, *,
             cash: Mapping[str, Decimal] | None = None, clock: Clock | None = None,
             board: Board | None = None, exchange: PaperExchange | None = None,
             venue_of: Callable[[str], Venue] | None = None) -> Rig:
    clock = clock or Clock()
    return Rig(config or make_config(), store, exchange or make_exchange(clock, cash), clock,
               board or Board(), venue_of=venue_of)


def closing(account: str, size: str, side: Side = Side.LONG, symbol: str = APT) -> OrderRow:
    """An expected row of `Rig.orders()`: a reduce-only order closing `size` of `side`."""
    return (account, symbol, side.close_order_side, side, D(size), True)


def opening(account: str, size: str, side: Side = Side.LONG, symbol: str = APT) -> OrderRow:
    """An expected row of `Rig.orders()`: an order opening `size` on `side`."""
    return (account, symbol, side.open_order_side, side, D(size), False)
