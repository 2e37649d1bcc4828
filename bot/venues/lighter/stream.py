"""One Lighter account's positions and marks, live over Lighter's websocket.

One connection to `wss://{host}/stream` carries everything: the server greets with
`{"type": "connected"}`; we subscribe `account_all/{account_index}` (a
`subscribed/account_all` snapshot of the account's positions keyed by market id, then an
`update/account_all` with the markets whose position changed, a closed one with
`position` "0") and `market_stats/{market_id}` for every market held (its `mark_price`,
pushed as it moves). Between them they give the position at the newest mark without a
request, and `changed` is called on every change so the rule loop looks at once instead
of at its next poll. The server's `{"type": "ping"}` is answered `{"type": "pong"}`.

Never a decision on a stale price: `positions()` answers None — and the venue reads REST —
unless the snapshot arrived on the current connection, every held market has a mark
pushed on it, something (a message, or the pong of the ping frame we send after
PING_AFTER_SECONDS idle) was heard within DEAD_AFTER_SECONDS, and no write of ours on
that market is waiting for its account push. A drop calls `changed` too: the run it
wakes reads REST, so nothing that happened during the gap is missed; the connection
comes back with backoff and subscribes again.

lighter-sdk's `WsClient` is not used: its `run()` blocks a thread on websockets' sync
client, and `run_async()` neither reconnects, nor pings, nor tells a dead connection
from a quiet one, nor lets a subscription be added later; it also raises on any close.
The protocol is spoken here over the `websockets` library, as for OKX.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import ClientConnection

from bot.domain import Position
from bot.sizing import profit_rate, unrealized_pnl
from bot.venues.lighter import parse
from bot.venues.lighter.parse import Market

log = logging.getLogger(__name__)

MAINNET_WS = "wss://mainnet.zklighter.elliot.ai"
STREAM_PATH = "/stream"
PING_AFTER_SECONDS = 5.0  # idle this long: a ping frame (Lighter drops a client silent 2 min)
DEAD_AFTER_SECONDS = 10.0  # nothing at all for this long, not even the pong: it is dead
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0
OPEN_TIMEOUT = 10.0


def ws_base(ws_url: str | None, base_url: str | None) -> str:
    """Where the stream is (without "/stream"): `ws_url`; else base_url's host over
    ws/wss; else Lighter's mainnet."""
    if ws_url:
        return ws_url.rstrip("/")
    if base_url:
        parts = urlsplit(base_url)
        return f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"
    return MAINNET_WS


class StreamRefused(Exception):
    """Lighter answered a subscription with an error."""


class LighterStream:
    def __init__(self, account: str, account_index: int, url: str,
                 market_by_id: Callable[[int], Awaitable[Market | None]],
                 auth: Callable[[], str], changed: Callable[[], None]) -> None:
        self.account, self.account_index, self.url = account, account_index, url
        self._market_by_id, self._auth, self._changed = market_by_id, auth, changed
        self._rows: dict[int, Position] = {}  # by market id: the open positions
        self._synced = False  # the account snapshot arrived on this connection
        self._marks: dict[int, Decimal] = {}  # pushed on the current connection
        self._heard = 0.0
        self._unsettled: set[str] = set()  # symbols we wrote to: REST until pushed
        self._wanted: set[int] = set()  # markets whose stats we want
        self._wanted_changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- what the venue asks ----------------------------------------------------------

    def positions(self) -> list[Position] | None:
        """The account's positions at the newest marks, or None when anything about them
        might be stale (then the venue reads REST)."""
        if (not self._synced or self._unsettled
                or time.monotonic() - self._heard > DEAD_AFTER_SECONDS):
            return None
        held = []
        for market_id, position in self._rows.items():
            mark = self._marks.get(market_id)
            if mark is None:
                return None
            held.append(at_mark(position, mark))
        return held

    def traded(self, symbol: str) -> None:
        """A write of ours on `symbol` is being sent (an order, leverage, margin): the
        stream's view of it is not trusted until the account channel pushes it, or the
        venue learns it changed nothing (`unchanged`)."""
        self._unsettled.add(symbol)

    def unchanged(self, symbol: str, rest: Position | None) -> None:
        """Our write on `symbol` is over and REST, read after it, shows the position as
        the stream has it (or it ended without a fill): no push is coming for it."""
        mine = next((p for p in self._rows.values() if p.symbol == symbol), None)
        if _same(mine, rest):
            self._unsettled.discard(symbol)

    def filled_nothing(self, symbol: str) -> None:
        """An order of ours ended without a fill: it changed no position."""
        self._unsettled.discard(symbol)

    @property
    def live(self) -> bool:
        return self.positions() is not None

    # -- running ----------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._keep(), name=f"lighter-stream:{self.account}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _keep(self) -> None:
        """The connection, again and again: backoff doubles from BACKOFF_FIRST to
        BACKOFF_MAX and starts over once a session got going."""
        backoff = BACKOFF_FIRST
        while True:
            began = time.monotonic()
            try:
                async with websockets.connect(self.url, open_timeout=OPEN_TIMEOUT,
                                              ping_interval=None, close_timeout=1,
                                              max_size=2**24) as ws:
                    await self._session(ws)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 — any end of a session means reconnect
                log.warning("lighter_stream_down account=%s error=%s: %s", self.account,
                            type(exc).__name__, str(exc)[:200])
            self._down()
            if time.monotonic() - began > BACKOFF_MAX:
                backoff = BACKOFF_FIRST
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _down(self) -> None:
        self._synced = False
        self._marks.clear()
        self._changed()  # the run this wakes reads REST: whatever the gap held is seen

    async def _messages(self, ws: ClientConnection) -> AsyncIterator[dict[str, Any]]:
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), PING_AFTER_SECONDS)
            except TimeoutError:
                pong = await ws.ping()
                await asyncio.wait_for(pong, DEAD_AFTER_SECONDS - PING_AFTER_SECONDS)
                self._heard = time.monotonic()
                continue
            self._heard = time.monotonic()
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif "error" in message:
                error = message["error"]
                raise StreamRefused(f"{error.get('code')}: {error.get('message')}"
                                    if isinstance(error, dict) else str(error))
            else:
                yield message

    # -- one connection -----------------------------------------------------------------

    async def _session(self, ws: ClientConnection) -> None:
        messages = self._messages(ws)
        async for message in messages:  # Lighter greets first; we subscribe after it
            if message.get("type") == "connected":
                break
        await ws.send(json.dumps({"type": "subscribe",
                                  "channel": f"account_all/{self.account_index}",
                                  "auth": self._auth()}))
        subscribed: set[int] = set()

        async def subscribe() -> None:
            while True:
                self._wanted_changed.clear()
                for market_id in sorted(self._wanted - subscribed):
                    await ws.send(json.dumps({"type": "subscribe",
                                              "channel": f"market_stats/{market_id}"}))
                    subscribed.add(market_id)
                await self._wanted_changed.wait()

        sender = asyncio.get_running_loop().create_task(subscribe())
        try:
            async for message in messages:
                kind = str(message.get("type", ""))
                if kind.endswith("/account_all"):
                    await self._on_account(message, snapshot=kind.startswith("subscribed/"))
                elif kind.endswith("/market_stats"):
                    self._on_stats(message.get("market_stats") or {})
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def _on_account(self, message: dict[str, Any], *, snapshot: bool) -> None:
        rows: dict[int, Position | None] = {}
        for key, row in (message.get("positions") or {}).items():
            market_id = int(row.get("market_id", key)) if isinstance(row, dict) else int(key)
            market = await self._market_by_id(market_id)
            rows[market_id] = (parse.position_from(self.account, row, market)
                               if market is not None and isinstance(row, dict) else None)
        if snapshot:
            self._rows = {k: v for k, v in rows.items() if v is not None}
            self._synced = True
            log.info("lighter_stream_synced account=%s positions=%d", self.account,
                     len(self._rows))
        else:
            for market_id, position in rows.items():
                if position is None:
                    self._rows.pop(market_id, None)
                else:
                    self._rows[market_id] = position
        # whatever this push says of a market is the venue's word after our writes on it
        trades = message.get("trades")
        mentioned = set(rows) | ({int(k) for k in trades} if isinstance(trades, dict) else set())
        for market_id in mentioned:
            market = await self._market_by_id(market_id)
            if market is not None:
                self._unsettled.discard(market.symbol)
        self._want(set(self._rows))
        self._changed()

    def _want(self, market_ids: set[int]) -> None:
        if not market_ids <= self._wanted:
            self._wanted |= market_ids
            self._wanted_changed.set()

    def _on_stats(self, stats: dict[str, Any]) -> None:
        # market_stats/{id} pushes one market; market_stats/all a dict of them by id
        many = stats.values() if "market_id" not in stats else [stats]
        moved = False
        for row in many:
            if not isinstance(row, dict) or row.get("market_id") is None:
                continue
            mark = parse.dec(row.get("mark_price")) or None
            market_id = int(row["market_id"])
            if mark is not None and self._marks.get(market_id) != mark:
                self._marks[market_id] = mark
                moved = True
        if moved:
            self._changed()


def at_mark(position: Position, mark: Decimal) -> Position:
    """The position priced at a newer mark: Lighter's rate is PnL over allocated margin,
    recomputed at that mark."""
    if mark == position.mark_price:
        return position
    upl = unrealized_pnl(position.side, position.size, position.entry_price, mark,
                         position.instrument)
    return replace(position, mark_price=mark, unrealized_pnl=upl,
                   profit_rate=profit_rate(upl, position.margin))


def _same(a: Position | None, b: Position | None) -> bool:
    if a is None or b is None:
        return a is b
    return ((a.side, a.size, a.entry_price, a.margin, a.leverage)
            == (b.side, b.size, b.entry_price, b.margin, b.leverage))
