"""Bitget v2's websocket API for the fake Bitget server, on the REST server's own port:
`/v2/ws/public` (ticker) and `/v2/ws/private` (login, positions, orders); channels in
bitget_channels.py.

What it imitates (Bitget's websocket docs, and the messages ccxt.pro's bitget quotes and
parses): text "ping" answered "pong"; `{"op": "login", "args": [{"apiKey", "passphrase",
"timestamp" (Unix seconds), "sign"}]}` where sign = base64(HMAC-SHA256(secret, timestamp +
"GET" + "/user/verify")), answered `{"event": "login", "code": 0, "msg": ""}`;
`{"op": "subscribe"|"unsubscribe", "args": [{"instType", "channel", "instId"}, ..]}`
answered per arg `{"event": "subscribe", "arg": ..}`; errors `{"event": "error", "arg"?,
"code": 300xx, "msg"}` with Bitget's codes: 30001 no such channel, 30002 illegal request,
30003 invalid op, 30004 not logged in, 30005 login failed, 30011 invalid key, 30012
invalid passphrase, 30014 timestamp expired, 30015 invalid sign. As on REST, the
passphrase, timestamp and signature are checked only for keys given credentials.

The machinery (one watcher and one sender task per connection, the engine's listener,
latency delaying pushes in order, `drop`, `down`, a clean close) is the OKX fake's,
whose `OkxStreams` this extends with Bitget's words.
"""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.domain import Instrument
from bot.venues.paper.engine import PaperExchange
from tests.fakes.bitget_channels import (
    PRIVATE_CHANNELS,
    PUBLIC_CHANNELS,
    Feed,
    WsError,
    no_such_channel,
)
from tests.fakes.bitget_wire import State
from tests.fakes.keyed_server import Credentials, signed
from tests.fakes.okx_channels import Channel
from tests.fakes.okx_stream import OkxStreams, WsRecorded, _Conn
from tests.fakes.okx_wire import OrderNotes

__all__ = ["STREAM_PATHS", "BitgetStreams", "WsRecorded"]

PUBLIC_PATH, PRIVATE_PATH = "/v2/ws/public", "/v2/ws/private"
STREAM_PATHS = (PUBLIC_PATH, PRIVATE_PATH)
VERIFY = "GET/user/verify"  # what a login signs after its timestamp
TIMESTAMP_WINDOW = 30  # seconds
Json = dict[str, Any]


class BitgetStreams(OkxStreams):
    """The websocket side of FakeBitgetServer; it shares the server's keys and state."""

    def __init__(self, exchange: PaperExchange, keys: dict[str, str],
                 credentials: dict[str, Credentials], state: State,
                 markets: dict[str, Instrument], errors: list[BaseException]) -> None:
        super().__init__(exchange, keys, credentials, OrderNotes(), errors)
        self.state, self.markets = state, markets
        self.mark_idle_push_seconds = 10.0  # the ticker re-pushes an unchanged mark

    def _receive(self, conn: _Conn, text: str) -> None:
        if text == "ping":  # counted, not recorded: keepalives would bury the messages
            self.pings += 1
            self._queue(conn, "pong")
            return
        try:
            message = json.loads(text)
        except ValueError:
            message = text
        self.messages.append(WsRecorded(conn.path, conn.key, message))
        try:
            if not isinstance(message, dict):
                raise WsError(30002, "Illegal request")
            op, args = message.get("op"), message.get("args")
            if op == "login":
                self._login(conn, args)
                self._queue(conn, {"event": "login", "code": 0, "msg": ""})
            elif op in ("subscribe", "unsubscribe"):
                if not isinstance(args, list) or not args:
                    raise WsError(30016, "Param error")
                for arg in args:
                    self._subscription(conn, op, arg, {})
            else:
                raise WsError(30003, f"Invalid op: {op}")
        except WsError as exc:
            self._queue(conn, self._bitget_error(exc, None))

    @staticmethod
    def _bitget_error(exc: WsError, arg: Any) -> Json:
        return {"event": "error", **({"arg": arg} if arg is not None else {}),
                "code": exc.code, "msg": exc.msg}

    def _subscription(self, conn: _Conn, op: str, arg: Any, echo: Json) -> None:
        """One arg of a (un)subscribe: answered alone, so one bad arg spoils no other."""
        try:
            if not isinstance(arg, dict) or not arg.get("channel"):
                raise WsError(30016, "Param error")
            key = json.dumps(arg, sort_keys=True)
            if op == "unsubscribe":
                conn.channels.pop(key, None)
                self._queue(conn, {"event": op, "arg": arg})
                return
            channel = self._make(conn, arg)
            self._queue(conn, {"event": op, "arg": arg})
            for push in channel.first(self._loop_time()):
                self._queue(conn, push)
            conn.channels[key] = channel  # a repeated subscribe starts afresh
            conn.wake.set()
        except WsError as exc:
            self._queue(conn, self._bitget_error(exc, arg))

    def _make(self, conn: _Conn, arg: Json) -> Channel:
        private = conn.path == PRIVATE_PATH
        make = (PRIVATE_CHANNELS if private else PUBLIC_CHANNELS).get(arg["channel"])
        if make is None:
            raise no_such_channel(arg)
        if private and conn.feed is None:
            raise WsError(30004, "User not logged in")
        return make(conn.feed if private else self._bitget_feed(None), arg)

    def _bitget_feed(self, account: str | None) -> Feed:
        return Feed(self.exchange, self.state, self.markets, account,
                    lambda: self.mark_idle_push_seconds)

    @staticmethod
    def _loop_time() -> float:
        return asyncio.get_running_loop().time()

    def _login(self, conn: _Conn, args: Any) -> None:
        if conn.path != PRIVATE_PATH:
            raise WsError(30003, "Invalid op: login")
        if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
            raise WsError(30005, "Login failed")
        fields = args[0]
        key, stamp = str(fields.get("apiKey") or ""), str(fields.get("timestamp") or "")
        if key not in self.keys:
            raise WsError(30011, "Invalid ACCESS_KEY")
        try:
            seconds = Decimal(stamp)
        except InvalidOperation:
            raise WsError(30013, "Invalid ACCESS_TIMESTAMP") from None
        creds = self.credentials.get(key)
        if creds is not None:
            if not seconds.is_finite() or abs(seconds - Decimal(time.time())) > TIMESTAMP_WINDOW:
                raise WsError(30014, "Request timestamp expired")
            if fields.get("passphrase") != creds.passphrase:
                raise WsError(30012, "Invalid ACCESS_PASSPHRASE")
            if not signed(creds.secret, stamp + VERIFY, str(fields.get("sign") or "")):
                raise WsError(30015, "Invalid sign")
        conn.key = key
        conn.feed = self._bitget_feed(self.keys[key])  # type: ignore[assignment]
