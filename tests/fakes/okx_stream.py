"""OKX v5's websocket API for the fake OKX server, on the REST server's own port:
`/ws/v5/public` (mark-price) and `/ws/v5/private` (login, positions, orders).

What it imitates: text "ping" answered "pong"; `{"op": "login"|"subscribe"|"unsubscribe",
"args": [...]}` answered per arg with `{"event": ..., "arg": ..., "connId": ...}` or
`{"event": "error", "code": "600xx", "msg": ..., "connId": ...}` (an "id" in the request
is echoed); pushes `{"arg": ..., "data": [...]}` with the REST rows of okx_render, private
ones with the account's `uid` in `arg`. The channels' own rules are in okx_channels.py.

How it learns of changes: the engine calls `wake_all` after each mutation
(`PaperExchange.add_listener`), which only sets every connection's wake event. One
watcher task per connection then asks each subscription what changed since it last
pushed, so a burst of mutations costs one diff. One sender task per connection drains its
queue in order, each message held until the engine's `latency_seconds` after it was
queued: latency delays pushes without reordering them.

Faults: `drop` cuts every connection's TCP stream (no close frame: the client sees 1006,
as on a network drop); `down` also answers new upgrades with HTTP 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from bot.venues.paper.engine import PaperExchange
from tests.fakes.keyed_server import Credentials, signed
from tests.fakes.okx_channels import (
    PRIVATE_CHANNELS,
    PUBLIC_CHANNELS,
    Channel,
    Feed,
    WsError,
    wrong_url,
)
from tests.fakes.okx_wire import OrderNotes

log = logging.getLogger(__name__)

PUBLIC_PATH, PRIVATE_PATH = "/ws/v5/public", "/ws/v5/private"
STREAM_PATHS = (PUBLIC_PATH, PRIVATE_PATH)
VERIFY = "GET/users/self/verify"  # what a login signs after its timestamp
TIMESTAMP_WINDOW = 30  # seconds: OKX refuses a login timestamp further off than this
CLOSE_SECONDS = 1.0  # a graceful close waits this long for the client's answer
Json = dict[str, Any]


@dataclass(slots=True)
class WsRecorded:
    """One client message as it arrived: for asserting what a stream client sent."""

    path: str
    key: str | None  # the API key the connection had logged in with, if any
    message: Any  # the parsed JSON (the text as sent when it is not JSON)


class _Conn:
    """One client connection: who it logged in as, its subscriptions, its queue."""

    def __init__(self, ws: web.WebSocketResponse, path: str, transport: Any) -> None:
        self.ws, self.path, self.transport = ws, path, transport
        self.conn_id = secrets.token_hex(4)  # OKX's connIds are 8 hex digits too
        self.key: str | None = None
        self.feed: Feed | None = None  # the logged-in account
        self.channels: dict[str, Channel] = {}  # by the arg as subscribed
        self.outbox: asyncio.Queue[tuple[float, str]] = asyncio.Queue()
        self.wake = asyncio.Event()
        self.done = asyncio.Event()  # set when the handler has cleaned up
        self.tasks: list[asyncio.Task[None]] = []

    def abort(self) -> None:
        """Cut the TCP stream without a close frame, like a network drop."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()


class OkxStreams:
    """The websocket side of FakeOkxServer; it shares the server's keys and order notes."""

    def __init__(self, exchange: PaperExchange, keys: dict[str, str],
                 credentials: dict[str, Credentials], notes: OrderNotes,
                 errors: list[BaseException]) -> None:
        self.exchange, self.keys, self.credentials = exchange, keys, credentials
        self.notes, self.errors = notes, errors
        self.mark_idle_push_seconds = 10.0  # OKX re-pushes an unchanged mark every 10 s
        self.messages: list[WsRecorded] = []
        self.pings = 0
        self.down = False
        self._conns: set[_Conn] = set()

    # -- life and faults ----------------------------------------------------------------

    def start(self) -> None:
        self.exchange.add_listener(self.wake_all)

    async def close(self) -> None:
        """Close every connection (1001, going away) and wait for its tasks to end."""
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
        """The engine's listener (also called when the idle interval changes): it runs
        inside the engine's calls, so it only flags the watchers, which read state later."""
        for conn in self._conns:
            conn.wake.set()

    # -- one connection -----------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.down:
            return web.Response(status=503, text="Service Unavailable")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = _Conn(ws, request.path, request.transport)
        self._conns.add(conn)
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

    def _queue(self, conn: _Conn, message: Json | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))
        due = asyncio.get_running_loop().time() + self.exchange.faults.latency_seconds
        conn.outbox.put_nowait((due, text))

    async def _send_loop(self, conn: _Conn) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, text = await conn.outbox.get()
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return  # the connection is gone; the handler cleans up

    async def _watch(self, conn: _Conn) -> None:
        loop = asyncio.get_running_loop()
        while True:
            dues = [d for c in conn.channels.values() if (d := c.due()) is not None]
            delay = max(0.0, min(dues) - loop.time()) if dues else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await conn.wake.wait()
            conn.wake.clear()
            try:
                now = loop.time()
                for channel in list(conn.channels.values()):
                    for push in channel.changes(now):
                        self._queue(conn, push)
            except Exception as exc:  # a bug in the fake: the test should hear about it
                log.exception("fake_okx_stream_failed conn=%s", conn.conn_id)
                self.errors.append(exc)
                return

    # -- what a client says -------------------------------------------------------------

    def _receive_safely(self, conn: _Conn, text: str) -> None:
        try:
            self._receive(conn, text)
        except Exception as exc:  # a bug in the fake: the test should hear about it
            log.exception("fake_okx_stream_failed conn=%s", conn.conn_id)
            self.errors.append(exc)

    def _receive(self, conn: _Conn, text: str) -> None:
        if text == "ping":  # counted, not recorded: keepalives would bury the messages
            self.pings += 1
            self._queue(conn, "pong")
            return
        try:
            message = json.loads(text)
        except ValueError:
            message = text  # recorded as sent, answered 60012 below
        self.messages.append(WsRecorded(conn.path, conn.key, message))
        echo = {"id": message["id"]} if isinstance(message, dict) and "id" in message else {}
        try:
            if not isinstance(message, dict):
                raise WsError("60012", f"Invalid request: {text}")
            op, args = message.get("op"), message.get("args")
            if op == "login":
                self._login(conn, args)
                self._queue(conn, {**echo, "event": "login", "code": "0", "msg": "",
                                   "connId": conn.conn_id})
            elif op in ("subscribe", "unsubscribe"):
                if not isinstance(args, list) or not args:
                    raise WsError("60013", "Invalid args")
                for arg in args:
                    self._subscription(conn, op, arg, echo)
            else:
                raise WsError("60019", f"Invalid op: {op}")
        except WsError as exc:
            self._queue(conn, self._error(conn, exc, echo))

    def _error(self, conn: _Conn, exc: WsError, echo: Json) -> Json:
        return {**echo, "event": "error", "code": exc.code, "msg": exc.msg,
                "connId": conn.conn_id}

    def _subscription(self, conn: _Conn, op: str, arg: Any, echo: Json) -> None:
        """One arg of a (un)subscribe: answered alone, so one bad arg spoils no other."""
        try:
            if not isinstance(arg, dict) or not arg.get("channel"):
                raise WsError("60013", "Invalid args")
            key = json.dumps(arg, sort_keys=True)
            if op == "unsubscribe":
                conn.channels.pop(key, None)
                self._queue(conn, {**echo, "event": op, "arg": arg, "connId": conn.conn_id})
                return
            channel = self._channel(conn, arg)
            self._queue(conn, {**echo, "event": op, "arg": arg, "connId": conn.conn_id})
            for push in channel.first(asyncio.get_running_loop().time()):
                self._queue(conn, push)
            conn.channels[key] = channel  # a repeated subscribe starts afresh, snapshot too
            conn.wake.set()  # the watcher's next idle push deadline may be sooner
        except WsError as exc:
            self._queue(conn, self._error(conn, exc, echo))

    def _channel(self, conn: _Conn, arg: Json) -> Channel:
        private = conn.path == PRIVATE_PATH
        make = (PRIVATE_CHANNELS if private else PUBLIC_CHANNELS).get(arg["channel"])
        if make is None:
            raise wrong_url(arg)
        if private:
            if conn.feed is None:
                raise WsError("60011", "Please log in")
            return make(conn.feed, arg)
        return make(self._feed(None), arg)

    def _feed(self, account: str | None) -> Feed:
        return Feed(self.exchange, self.notes, account, lambda: self.mark_idle_push_seconds)

    def _login(self, conn: _Conn, args: Any) -> None:
        """OKX's login: sign = base64(HMAC-SHA256(secret, timestamp + "GET" +
        "/users/self/verify")), the timestamp in Unix seconds. The passphrase, signature
        and timestamp are checked only for keys given credentials, as on REST."""
        if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
            raise WsError("60009", "Login failed.")
        fields = args[0]
        for name, code, header in (("apiKey", "60001", "KEY"), ("sign", "60002", "SIGN"),
                                   ("passphrase", "60003", "PASSPHRASE")):
            if not fields.get(name):
                raise WsError(code, f"OK-ACCESS-{header} can not be empty")
        key, stamp = str(fields["apiKey"]), str(fields.get("timestamp", ""))
        try:
            seconds = Decimal(stamp)
        except InvalidOperation:
            raise WsError("60004", "Invalid OK-ACCESS-TIMESTAMP") from None
        if key not in self.keys:
            raise WsError("60005", "Invalid OK-ACCESS-KEY")
        creds = self.credentials.get(key)
        if creds is not None:
            if not seconds.is_finite() or abs(seconds - Decimal(time.time())) > TIMESTAMP_WINDOW:
                raise WsError("60006", "Timestamp request expired")
            if fields["passphrase"] != creds.passphrase:
                raise WsError("60024", "Wrong passphrase")
            if not signed(creds.secret, stamp + VERIFY, str(fields["sign"])):
                raise WsError("60007", "Invalid sign")
        conn.key = key
        conn.feed = self._feed(self.keys[key])
