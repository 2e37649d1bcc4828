"""One ccxt account's positions and marks, live over the exchange's websockets through
ccxt's own watch methods (ccxt.pro, shipped inside the ccxt package).

One task per watch loop: `watch_positions` (the account's positions), one mark per held
symbol (`watch_mark_price` where the exchange has it, else `watch_ticker`, whose row
carries the mark on Bitget's futures ticker channel), and `watch_orders` where the
exchange has it (an order of ours that ended without a fill changed no position). Each
push calls `changed`, so the rule loop looks at once instead of at its next poll.

ccxt.pro connects, logs in, pings ("ping"/"pong" on Bitget, every PING_AFTER_SECONDS)
and drops a connection that missed two pongs; a dropped connection rejects every watch
waiting on it, and the next watch call dials again and subscribes afresh. Here every
watch that raised is a loop that went down: its part of the view is dropped, `changed`
is called (the run it wakes reads REST, so nothing in the gap is missed) and the loop
calls again after a backoff.

Never a decision on a stale view: `positions()` answers None — and the venue reads REST —
unless the positions arrived on the connection that is open now, every held symbol has
a mark pushed on the public connection that is open now, neither connection was silent
for DEAD_AFTER_SECONDS, and no order of ours on a symbol is waiting for its positions
push. Which connection a watch went over is learnt from ccxt's own `watch(url, ..)`
call, wrapped per task.

An exchange whose ccxt class has no `watchPositions` or no way to a mark is simply not
streaming-capable: `can_stream` is False, the venue's `watch` does nothing and its
positions stay REST.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from bot.domain import Position
from bot.sizing import profit_rate, unrealized_pnl
from bot.venues.ccxt import parse
from bot.venues.instrument_cache import InstrumentCache

log = logging.getLogger(__name__)

PING_AFTER_SECONDS = 5.0  # ccxt's keepAlive: a "ping" this often, dead after two missed
DEAD_AFTER_SECONDS = 10.0  # nothing heard on a connection for this long: not live
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0
ENDED_UNFILLED = ("canceled", "expired", "rejected")

_loop_name: contextvars.ContextVar[str] = contextvars.ContextVar("ccxt_stream_loop")


def can_stream(exchange: Any) -> bool:
    """The exchange's ccxt class watches positions and a price that carries the mark."""
    has = getattr(exchange, "has", {}) or {}
    return bool(has.get("ws") and has.get("watchPositions")
                and (has.get("watchMarkPrice") or has.get("watchTicker")))


def point_ws(api: Any, ws_url: str | None, base_url: str | None) -> Any:
    """ccxt's websocket URLs (any string under urls["api"] that starts with ws) moved to
    `ws_url`, else to base_url's host over ws/wss; their paths are kept."""
    if ws_url:
        target = ws_url.rstrip("/")
    elif base_url:
        parts = urlsplit(base_url)
        target = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"
    else:
        return api
    if isinstance(api, dict):
        return {key: point_ws(value, ws_url or target, None) for key, value in api.items()}
    if isinstance(api, str) and api.startswith(("ws://", "wss://")):
        parts = urlsplit(api)
        return target + parts.path + (f"?{parts.query}" if parts.query else "")
    return api


@dataclass(slots=True)
class _Mark:
    price: Decimal
    client: Any  # the ccxt connection it came over


class CcxtStream:
    def __init__(self, account: str, exchange: Any, instruments: InstrumentCache,
                 changed: Callable[[], None], *, venue_rate: bool) -> None:
        self.account, self.exchange = account, exchange
        self._instruments, self._changed, self._venue_rate = instruments, changed, venue_rate
        self._rows: list[Position] = []
        self._positions_client: Any = None  # the connection the positions came over
        self._marks: dict[str, _Mark] = {}
        self._urls: dict[str, str] = {}  # loop name -> the URL its watch went to
        self._unsettled: set[str] = set()  # symbols we traded: REST until pushed
        self._tasks: dict[str, asyncio.Task[None]] = {}
        original = exchange.watch

        def watch(url: str, *args: Any, **kwargs: Any) -> Any:
            name = _loop_name.get(None)
            if name is not None:
                self._urls[name] = url
            return original(url, *args, **kwargs)

        exchange.watch = watch  # this instance only: learns each loop's connection

    # -- what the venue asks ----------------------------------------------------------

    def positions(self) -> list[Position] | None:
        """The account's positions at the newest marks, or None when anything about them
        might be stale (then the venue reads REST)."""
        if self._unsettled or not self._current(self._positions_client, "positions"):
            return None
        held = []
        for position in self._rows:
            mark = self._marks.get(position.symbol)
            if mark is None or not self._current(mark.client, f"mark:{position.symbol}"):
                return None
            held.append(at_mark(position, mark.price, venue_rate=self._venue_rate))
        return held

    def traded(self, symbol: str, *, order: bool = True) -> None:
        """We are about to change `symbol` (an order; or leverage or margin, which only
        matter when it is held): the view of it is not trusted until pushed again."""
        if order or any(p.symbol == symbol for p in self._rows):
            self._unsettled.add(symbol)

    @property
    def live(self) -> bool:
        return self.positions() is not None

    def _current(self, client: Any, name: str) -> bool:
        """`client` is the loop's connection now, open, and heard from lately."""
        url = self._urls.get(name)
        if client is None or url is None or self.exchange.clients.get(url) is not client:
            return False
        if client.closed():
            return False
        heard = max(getattr(client, "last_message_at", None) or 0, client.lastPong or 0,
                    client.connectionEstablished or 0)
        return self.exchange.milliseconds() - heard <= DEAD_AFTER_SECONDS * 1000

    def _client(self, name: str) -> Any:
        url = self._urls.get(name)
        return self.exchange.clients.get(url) if url else None

    # -- running ----------------------------------------------------------------------

    def start(self) -> None:
        self._spawn("positions", self._positions_once)
        if self.exchange.has.get("watchOrders"):
            self._spawn("orders", self._orders_once)

    def _spawn(self, name: str, once: Callable[[], Awaitable[None]]) -> None:
        context = contextvars.copy_context()
        context.run(_loop_name.set, name)
        self._tasks[name] = asyncio.get_running_loop().create_task(
            self._keep(name, once), name=f"ccxt-stream-{name}:{self.account}", context=context)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _keep(self, name: str, once: Callable[[], Awaitable[None]]) -> None:
        """One watch, again and again; after a failure the backoff doubles from
        BACKOFF_FIRST to BACKOFF_MAX and starts over once a watch lasted that long."""
        backoff = BACKOFF_FIRST
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            try:
                while True:
                    await once()
                    began = loop.time()
                    backoff = BACKOFF_FIRST
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 — any failure of a watch: down, again
                log.warning("ccxt_stream_down account=%s loop=%s error=%s: %s", self.account,
                            name, type(exc).__name__, str(exc)[:200])
            self._down(name)
            if loop.time() - began > BACKOFF_MAX:
                backoff = BACKOFF_FIRST
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _down(self, name: str) -> None:
        if name == "positions":
            self._positions_client = None
        elif name.startswith("mark:"):
            self._marks.pop(name.removeprefix("mark:"), None)
        self._changed()  # the run this wakes reads REST: whatever the gap held is seen

    # -- the loops ----------------------------------------------------------------------

    async def _positions_once(self) -> None:
        await self.exchange.watch_positions()
        # The cache, not the answer: pushes handled while nobody waited are in it too
        # (Bitget's every push is a snapshot of all positions, which resets it).
        rows = []
        for row in _cached(self.exchange.positions):
            if parse.dec0(row.get("contracts")) == 0 or row.get("side") not in ("long", "short"):
                continue
            inst = await self._instruments.get(str(row.get("symbol")))
            if inst is None:
                continue
            # ccxt's bitget parse_ws_position takes `collateral` (thus positionMargin)
            # from `available`, a size: the margin is initialMargin (Bitget's marginSize).
            row = {**row, "positionMargin": row.get("initialMargin") or row.get(
                "positionMargin")}
            rows.append(parse.position_from(self.account, inst, row,
                                            venue_rate=self._venue_rate))
        before = _by_symbol(self._rows)
        after = _by_symbol(rows)
        self._unsettled -= {s for s in self._unsettled if before.get(s) != after.get(s)}
        self._rows, self._positions_client = rows, self._client("positions")
        held = set(after)
        for symbol in held - {n.removeprefix("mark:") for n in self._tasks}:
            self._spawn(f"mark:{symbol}", lambda s=symbol: self._mark_once(s))  # type: ignore[misc]
        for name in [n for n in self._tasks if n.startswith("mark:")]:
            if name.removeprefix("mark:") not in held:
                self._tasks.pop(name).cancel()
                self._marks.pop(name.removeprefix("mark:"), None)
        self._changed()

    async def _mark_once(self, symbol: str) -> None:
        if self.exchange.has.get("watchMarkPrice"):
            ticker = await self.exchange.watch_mark_price(symbol)
        else:
            ticker = await self.exchange.watch_ticker(symbol)
        ticker = (self.exchange.tickers or {}).get(symbol) or ticker  # the newest
        price = parse.dec(ticker.get("markPrice")) or parse.dec(
            (ticker.get("info") or {}).get("markPrice"))
        if price is None:
            raise ValueError(f"no mark price in the {symbol} ticker")
        before = self._marks.get(symbol)
        self._marks[symbol] = _Mark(price, self._client(f"mark:{symbol}"))
        if before is None or before.price != price:
            self._changed()

    async def _orders_once(self) -> None:
        for order in await self.exchange.watch_orders():
            symbol = str(order.get("symbol"))
            filled = parse.dec0((order.get("info") or {}).get("accBaseVolume")
                                or order.get("filled"))
            if symbol in self._unsettled and order.get("status") in ENDED_UNFILLED \
                    and filled == 0:
                self._unsettled.discard(symbol)  # it changed no position
                self._changed()


def _cached(cache: Any) -> list[dict[str, Any]]:
    """ccxt's positions cache: one list, or (Bitget) one per product type."""
    if cache is None:
        return []
    if isinstance(cache, dict):
        return [row for rows in cache.values() for row in rows]
    return list(cache)


def _by_symbol(rows: list[Position]) -> dict[str, set[tuple[Any, ...]]]:
    found: dict[str, set[tuple[Any, ...]]] = {}
    for p in rows:
        found.setdefault(p.symbol, set()).add((p.side, p.size, p.entry_price, p.margin,
                                               p.leverage))
    return found


def at_mark(position: Position, mark: Decimal, *, venue_rate: bool) -> Position:
    """The position priced at a newer mark. A venue's own profit rate scales with the
    PnL (its base does not move with the price); ours is PnL over margin."""
    if mark == position.mark_price:
        return position
    upl = unrealized_pnl(position.side, position.size, position.entry_price, mark,
                         position.instrument)
    if venue_rate and position.unrealized_pnl and position.profit_rate:
        rate = position.profit_rate * upl / position.unrealized_pnl
    else:
        rate = profit_rate(upl, position.margin)
    return replace(position, mark_price=mark, unrealized_pnl=upl, profit_rate=rate)
