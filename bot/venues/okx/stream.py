"""One OKX account's positions and marks, live over OKX's websockets (issue 16).

The private connection logs in with the account's key and subscribes to `positions`
(a snapshot, then a push on every change) and `orders`; the public one subscribes to
`mark-price` for every instrument held. Between them they give the position at the
newest mark without a request, and `changed` is called on every change so the rule loop
looks at once instead of at its next poll.

Never a decision on a stale price: `positions()` answers None — and the venue reads REST —
unless both connections are up, the snapshot arrived, every held instrument has a mark
pushed on the current connection, nothing was silent for DEAD_AFTER_SECONDS (OKX pushes
a mark at least every 10 s, and we ping after PING_AFTER_SECONDS idle), and no order of
ours on that instrument is waiting for its positions push. A drop calls `changed` too:
the run it wakes reads REST, so nothing that happened during the gap is missed, and the
connection comes back with backoff, logs in and subscribes again.

python-okx's own websocket client cannot connect to `ws://` and sleeps 5 s after each
login, so the protocol is spoken here over the `websockets` library; the signature is
python-okx's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import websockets
from okx import utils
from websockets.asyncio.client import ClientConnection

from bot.domain import Position
from bot.sizing import profit_rate, unrealized_pnl
from bot.venues.instrument_cache import InstrumentCache
from bot.venues.okx import parse
from bot.venues.okx.site import OkxKeys

log = logging.getLogger(__name__)

LIVE_URL, DEMO_URL = "wss://ws.okx.com:8443", "wss://wspap.okx.com:8443"
PUBLIC_PATH, PRIVATE_PATH = "/ws/v5/public", "/ws/v5/private"
PING_AFTER_SECONDS = 5.0  # idle this long: "ping" (OKX drops a connection silent for 30 s)
DEAD_AFTER_SECONDS = 10.0  # nothing at all for this long, not even "pong": it is dead
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0
OPEN_TIMEOUT = 10.0
NO_PERIODIC_PUSH = json.dumps({"updateInterval": "0"})  # positions: on events only
FINAL_ORDER_STATES = ("filled", "canceled", "mmp_canceled")

Key = tuple[str, str]  # (instId, posSide)


def ws_base(ws_url: str | None, base_url: str | None, demo: bool) -> str:
    """Where the streams are: `ws_url`; else base_url's host over ws/wss; else OKX's."""
    if ws_url:
        return ws_url.rstrip("/")
    if base_url:
        parts = urlsplit(base_url)
        return f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"
    return DEMO_URL if demo else LIVE_URL


class StreamRefused(Exception):
    """OKX answered a login or subscription with an error event."""


class OkxStream:
    def __init__(self, account: str, keys: OkxKeys, url: str, instruments: InstrumentCache,
                 changed: Callable[[], None]) -> None:
        self.account, self.url = account, url
        self._keys, self._instruments, self._changed = keys, instruments, changed
        self._rows: dict[Key, tuple[Position, dict[str, Any]]] = {}
        self._snapshot: dict[Key, tuple[Position, dict[str, Any]]] = {}
        self._synced = False  # the positions snapshot arrived on this connection
        self._marks: dict[str, Decimal] = {}  # pushed on the current public connection
        self._public_up = False
        self._heard = {PRIVATE_PATH: 0.0, PUBLIC_PATH: 0.0}
        self._unsettled: set[str] = set()  # instruments we traded: REST until pushed
        self._wanted_marks: set[str] = set()
        self._wanted_changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- what the venue asks ----------------------------------------------------------

    def positions(self) -> list[Position] | None:
        """The account's positions at the newest marks, or None when anything about them
        might be stale (then the venue reads REST)."""
        now = time.monotonic()
        if (not self._synced or not self._public_up or self._unsettled
                or any(now - t > DEAD_AFTER_SECONDS for t in self._heard.values())):
            return None
        held = []
        for (inst_id, _), (position, _row) in self._rows.items():
            mark = self._marks.get(inst_id)
            if mark is None:
                return None
            held.append(at_mark(position, mark))
        return held

    def traded(self, symbol: str) -> None:
        """An order of ours on `symbol` was sent: the stream's view of it is not trusted
        until the positions channel (or the order's end without a fill) says more."""
        self._unsettled.add(symbol)

    @property
    def live(self) -> bool:
        return self.positions() is not None

    # -- running ----------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._keep(PRIVATE_PATH, self._private),
                                        name=f"okx-stream-private:{self.account}"),
                       loop.create_task(self._keep(PUBLIC_PATH, self._public),
                                        name=f"okx-stream-public:{self.account}")]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _keep(self, path: str, session: Callable[[ClientConnection], Any]) -> None:
        """One connection, again and again: backoff doubles from BACKOFF_FIRST to
        BACKOFF_MAX and starts over once a session got going."""
        backoff = BACKOFF_FIRST
        while True:
            began = time.monotonic()
            try:
                async with websockets.connect(self.url + path, open_timeout=OPEN_TIMEOUT,
                                              ping_interval=None, close_timeout=1,
                                              max_size=2**24) as ws:
                    await session(ws)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 — any end of a session means reconnect
                log.warning("okx_stream_down account=%s path=%s error=%s: %s", self.account,
                            path, type(exc).__name__, str(exc)[:200])
            self._down(path)
            if time.monotonic() - began > BACKOFF_MAX:
                backoff = BACKOFF_FIRST
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _down(self, path: str) -> None:
        if path == PRIVATE_PATH:
            self._synced = False
        else:
            self._public_up = False
            self._marks.clear()
        self._changed()  # the run this wakes reads REST: whatever the gap held is seen

    async def _messages(self, ws: ClientConnection, path: str) -> AsyncIterator[dict[str, Any]]:
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), PING_AFTER_SECONDS)
            except TimeoutError:
                await ws.send("ping")
                raw = await asyncio.wait_for(ws.recv(), DEAD_AFTER_SECONDS - PING_AFTER_SECONDS)
            self._heard[path] = time.monotonic()
            if raw == "pong":
                continue
            message = json.loads(raw)
            if message.get("event") == "error":
                raise StreamRefused(f"{message.get('code')}: {message.get('msg')}")
            yield message

    # -- the private connection: positions and orders ---------------------------------

    async def _private(self, ws: ClientConnection) -> None:
        timestamp = str(int(time.time()))  # OKX's websocket login wants Unix seconds
        sign = utils.sign(f"{timestamp}GET/users/self/verify", self._keys.secret).decode()
        await ws.send(json.dumps({"op": "login", "args": [{
            "apiKey": self._keys.api_key, "passphrase": self._keys.passphrase,
            "timestamp": timestamp, "sign": sign}]}))
        messages = self._messages(ws, PRIVATE_PATH)
        async for message in messages:  # until logged in (a refusal raises StreamRefused)
            if message.get("event") == "login":
                break
        await ws.send(json.dumps({"op": "subscribe", "args": [
            {"channel": "positions", "instType": "SWAP", "extraParams": NO_PERIODIC_PUSH},
            {"channel": "orders", "instType": "SWAP"}]}))
        async for message in messages:
            channel = message.get("arg", {}).get("channel")
            if "data" not in message:
                continue
            if channel == "positions":
                await self._on_positions(message)
            elif channel == "orders":
                self._on_orders(message["data"])

    async def _on_positions(self, message: dict[str, Any]) -> None:
        rows: dict[Key, tuple[Position, dict[str, Any]]] = {}
        for row in message["data"]:
            inst = await self._instruments.get(str(row.get("instId")))
            if inst is None or parse.dec0(row.get("pos")) == 0:
                rows[(str(row.get("instId")), str(row.get("posSide")))] = None  # type: ignore[assignment]
                continue
            position = parse.position_from(self.account, inst, row)
            rows[(inst.symbol, position.side.value)] = (position, row)
        if message.get("eventType") == "snapshot":
            if str(message.get("curPage", "1")) == "1":
                self._snapshot = {}
            self._snapshot.update({k: v for k, v in rows.items() if v is not None})
            if message.get("lastPage", True) not in (False, "false"):
                self._rows, self._synced = self._snapshot, True
                log.info("okx_stream_synced account=%s positions=%d", self.account,
                         len(self._rows))
        else:
            for key, value in rows.items():
                if value is None:
                    self._rows.pop(key, None)
                else:
                    self._rows[key] = value
        self._unsettled -= {key[0] for key in rows}
        self._want_marks({key[0] for key in self._rows})
        self._changed()

    def _on_orders(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            # An order that ended without a fill changed no position: nothing to wait for.
            if row.get("state") == "canceled" and parse.dec0(row.get("accFillSz")) == 0:
                self._unsettled.discard(str(row.get("instId")))

    # -- the public connection: marks ---------------------------------------------------

    def _want_marks(self, symbols: set[str]) -> None:
        if not symbols <= self._wanted_marks:
            self._wanted_marks |= symbols
            self._wanted_changed.set()

    async def _public(self, ws: ClientConnection) -> None:
        subscribed: set[str] = set()
        self._public_up = True

        async def subscribe() -> None:
            while True:
                self._wanted_changed.clear()
                new = sorted(self._wanted_marks - subscribed)
                if new:
                    await ws.send(json.dumps({"op": "subscribe", "args": [
                        {"channel": "mark-price", "instId": s} for s in new]}))
                    subscribed.update(new)
                await self._wanted_changed.wait()

        sender = asyncio.get_running_loop().create_task(subscribe())
        try:
            async for message in self._messages(ws, PUBLIC_PATH):
                if message.get("arg", {}).get("channel") != "mark-price":
                    continue
                moved = False
                for row in message.get("data", []):
                    price = parse.dec(row.get("markPx"))
                    symbol = str(row.get("instId"))
                    if price is not None and self._marks.get(symbol) != price:
                        self._marks[symbol] = price
                        moved = True
                if moved:
                    self._changed()
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender


def at_mark(position: Position, mark: Decimal) -> Position:
    """The position priced at a newer mark. OKX's profit rate is its unrealized PnL over
    a base that does not move with the price, so it scales with the PnL; when the row
    had no PnL to scale from, it is PnL over margin (SPEC's definition)."""
    if mark == position.mark_price:
        return position
    upl = unrealized_pnl(position.side, position.size, position.entry_price, mark,
                         position.instrument)
    if position.unrealized_pnl and position.profit_rate:
        rate = position.profit_rate * upl / position.unrealized_pnl
    else:
        rate = profit_rate(upl, position.margin)
    return replace(position, mark_price=mark, unrealized_pnl=upl, profit_rate=rate)
