"""Lighter's websocket for the fake Lighter server, on the REST server's own port at
`/stream`.

What it imitates (apidocs.lighter.xyz "WebSocket"; lighter-sdk's ws_client.py): the server
greets `{"session_id": ..., "type": "connected"}`; a client subscribes with
`{"type": "subscribe", "channel": "<name>/<id>"}` and pushes carry `"channel":
"<name>:<id>"` and `"type": "subscribed/<name>"` (the first) or `"update/<name>"`:

- `market_stats/{market_id}` or `market_stats/all`: `{"market_stats": {market_id, symbol,
  index_price, mark_price, last_trade_price, funding fields, daily_* ...}}` (for "all" a
  dict of those by market id), at once, again when the mark moves and every
  `idle_push_seconds` while it does not (Lighter's stats tick on their own);
- `account_all/{account_index}`: `{"account", "positions": {market_id: row}, "trades":
  {market_id: [trade]}, "funding_histories": {}, "shares": [], *_trades_count, *_volume}`;
  the snapshot holds every position row, an update the markets whose row changed (a
  closed position once, with `position` zero and `sign` 0) and the trades since the last
  push. Rows are the REST account's position rows and /trades rows. As with OKX's
  events-only positions, what only the mark moves (value, PnL, liquidation price) does
  not make a push: prices come over market_stats. An `auth` token, if sent, must name the
  account. The channels' own rules are in lighter_channels.py.

Keepalive: the server sends `{"type": "ping"}` every `ping_seconds` and counts the
`{"type": "pong"}` answers; websocket ping frames are answered by aiohttp. A client's own
`{"type": "ping"}` is counted and not answered (what Lighter answers is unverified). A
refusal is `{"error": {"code": 30005, "message": ...}}` (code and words are this fake's).

How it learns of changes, latency and faults: as the OKX fake (okx_stream.py) — the
engine's listener only wakes each connection's watcher, which diffs its subscriptions;
one sender per connection holds each message `latency_seconds` after it was queued, in
order; `drop` cuts every TCP stream without a close frame, `down` also answers upgrades
with HTTP 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from bot.venues.paper.engine import PaperExchange
from tests.fakes.lighter_channels import AccountAll, Channel, MarketStats, Rows, WsError

log = logging.getLogger(__name__)

STREAM_PATH = "/stream"
INVALID_CHANNEL = 30005  # this fake's code for any refused subscription
CLOSE_SECONDS = 1.0
Json = dict[str, Any]


@dataclass(slots=True)
class WsRecorded:
    """One client message as it arrived (pings and pongs only counted)."""

    message: Any


class _Conn:
    def __init__(self, ws: web.WebSocketResponse, transport: Any) -> None:
        self.ws, self.transport = ws, transport
        self.session_id = secrets.token_hex(8)
        self.channels: dict[str, Channel] = {}
        self.outbox: asyncio.Queue[tuple[float, str]] = asyncio.Queue()
        self.wake = asyncio.Event()
        self.done = asyncio.Event()
        self.pinged_at = 0.0
        self.tasks: list[asyncio.Task[None]] = []

    def abort(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()


class LighterStreams:
    """The websocket side of FakeLighterServer."""

    def __init__(self, exchange: PaperExchange, rows: Rows,
                 errors: list[BaseException]) -> None:
        self.exchange, self.rows, self.errors = exchange, rows, errors
        self.idle_push_seconds = 5.0  # market_stats re-pushed while nothing moves
        self.ping_seconds = 30.0  # the server's {"type": "ping"}; math.inf: never
        self.messages: list[WsRecorded] = []
        self.pings = self.pongs = 0
        self.down = False
        self._conns: set[_Conn] = set()

    def start(self) -> None:
        self.exchange.add_listener(self.wake_all)

    async def close(self) -> None:
        self.exchange.remove_listener(self.wake_all)
        conns = list(self._conns)
        for conn in conns:
            try:
                async with asyncio.timeout(CLOSE_SECONDS):
                    await conn.ws.close(code=WSCloseCode.GOING_AWAY)
            except (TimeoutError, ConnectionError):
                conn.abort()
        await asyncio.gather(*(conn.done.wait() for conn in conns))

    def drop(self) -> None:
        for conn in list(self._conns):
            conn.abort()

    def set_down(self, down: bool) -> None:
        self.down = down
        if down:
            self.drop()

    def wake_all(self) -> None:
        for conn in self._conns:
            conn.wake.set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.down:
            return web.Response(status=503, text="Service Unavailable")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = _Conn(ws, request.transport)
        conn.pinged_at = asyncio.get_running_loop().time()
        self._conns.add(conn)
        self._queue(conn, {"session_id": conn.session_id, "type": "connected"})
        conn.tasks = [asyncio.create_task(self._send_loop(conn)),
                      asyncio.create_task(self._watch(conn))]
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._receive_safely(conn, msg.data)
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            self._conns.discard(conn)
            for task in conn.tasks:
                task.cancel()
            await asyncio.gather(*conn.tasks, return_exceptions=True)
            conn.done.set()
        return ws

    def _queue(self, conn: _Conn, message: Json) -> None:
        due = asyncio.get_running_loop().time() + self.exchange.faults.latency_seconds
        conn.outbox.put_nowait((due, json.dumps(message, separators=(",", ":"))))

    async def _send_loop(self, conn: _Conn) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, text = await conn.outbox.get()
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def _watch(self, conn: _Conn) -> None:
        loop = asyncio.get_running_loop()
        while True:
            dues = [d for c in conn.channels.values() if (d := c.due()) is not None]
            dues.append(conn.pinged_at + self.ping_seconds)
            delay = max(0.0, min(dues) - loop.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(None if math.isinf(delay) else delay):
                    await conn.wake.wait()
            conn.wake.clear()
            try:
                now = loop.time()
                if now >= conn.pinged_at + self.ping_seconds:
                    conn.pinged_at = now
                    self._queue(conn, {"type": "ping"})
                for channel in list(conn.channels.values()):
                    for push in channel.changes(now):
                        self._queue(conn, push)
            except Exception as exc:  # a bug in the fake: the test should hear about it
                log.exception("fake_lighter_stream_failed session=%s", conn.session_id)
                self.errors.append(exc)
                return

    def _receive_safely(self, conn: _Conn, text: str) -> None:
        try:
            self._receive(conn, text)
        except Exception as exc:  # a bug in the fake: the test should hear about it
            log.exception("fake_lighter_stream_failed session=%s", conn.session_id)
            self.errors.append(exc)

    def _receive(self, conn: _Conn, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = text
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "ping":
            self.pings += 1
            return
        if kind == "pong":
            self.pongs += 1
            return
        self.messages.append(WsRecorded(message))
        try:
            if kind != "subscribe" or not isinstance(message.get("channel"), str):
                raise WsError(f"Invalid message: {text[:100]}")
            self._subscribe(conn, message["channel"], message.get("auth"))
        except WsError as exc:
            self._queue(conn, {"error": {"code": INVALID_CHANNEL, "message": str(exc)}})

    def _subscribe(self, conn: _Conn, channel: str, auth: Any) -> None:
        name, _, key = channel.partition("/")
        makers: dict[str, Callable[[], Channel]] = {
            "market_stats": lambda: MarketStats(self, key),
            "account_all": lambda: AccountAll(self, key, auth)}
        make = makers.get(name)
        if make is None:
            raise WsError(f"Invalid Channel: {channel}")
        made = make()
        for push in made.first(asyncio.get_running_loop().time()):
            self._queue(conn, push)
        conn.channels[channel] = made  # a repeated subscribe starts afresh, snapshot too
        conn.wake.set()
