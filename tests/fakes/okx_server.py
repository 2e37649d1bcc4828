"""A fake OKX v5 REST server on loopback, serving a `PaperExchange`, for contract tests
that run the UNMODIFIED python-okx and ccxt (okx) clients against it.

    async with FakeOkxServer(exchange, {"key-main": "main"}) as okx:
        TradeAPI(..., domain=okx.base_url)           # python-okx
        exchange.urls["api"] = {"rest": okx.base_url}  # ccxt

What it imitates: OKX's envelope (`{"code":"0","msg":"","data":[...]}`, numbers as
strings, `""` for missing), per-order `sCode`/`sMsg`, OKX's error codes with their HTTP
statuses, auth headers on private endpoints (optionally the signature too), one paper
account per API key, and the demo-trading header. Faults: the engine's own (`reject`,
`never fill`, `timeout after accept` = this server never answers that request,
latency) plus `fail_next` here, which answers the next N requests (optionally of one
path) with a given code, e.g. 50011 rate limit (HTTP 429) or 50013 system busy.
Routes live in okx_routes_account.py and okx_routes_trade.py; the request pipeline,
the recording and `fail_next` in keyed_server.py, shared with the Bitget fake.

The same port serves OKX's websocket API at `ws_url` + "/ws/v5/public" and
"/ws/v5/private" (okx_stream.py, channels in okx_channels.py), with its own faults:
`drop_streams()`, `streams_down(True)`, and `ws_messages`, what clients sent (pings
only counted, in `ws_pings`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from bot.venues.base import VenueError
from bot.venues.okx.codes import okx_error
from bot.venues.paper.engine import PaperExchange
from tests.fakes.keyed_server import Credentials, KeyedServer, Recorded, signed
from tests.fakes.okx_routes_account import ROUTES as ACCOUNT_ROUTES
from tests.fakes.okx_routes_account import Routes
from tests.fakes.okx_routes_trade import ROUTES as TRADE_ROUTES
from tests.fakes.okx_stream import STREAM_PATHS, OkxStreams, WsRecorded
from tests.fakes.okx_wire import Answer, Ctx, OrderNotes, clean, error_answer

__all__ = ["Credentials", "FakeOkxServer", "Recorded", "WsRecorded"]

ROUTES: Routes = {**ACCOUNT_ROUTES, **TRADE_ROUTES}
_AUTH_HEADERS = ("OK-ACCESS-KEY", "OK-ACCESS-SIGN", "OK-ACCESS-TIMESTAMP",
                 "OK-ACCESS-PASSPHRASE")


@dataclass(slots=True)
class _State:
    """What this server keeps beside the engine (a test's subclass reads it too)."""

    notes: OrderNotes = field(default_factory=OrderNotes)


class FakeOkxServer(KeyedServer[Ctx]):
    KEY_HEADER, BAD_JSON, BUG = "OK-ACCESS-KEY", "50002", "50026"

    def __init__(self, exchange: PaperExchange, keys: dict[str, str], *,
                 credentials: dict[str, Credentials] | None = None, demo: bool | None = None,
                 host: str = "127.0.0.1") -> None:
        """`keys` maps an API key to the paper account it trades. `demo` True/False makes
        private requests with the wrong `x-simulated-trading` header fail with 50101,
        like a live key on the demo site; None accepts both."""
        super().__init__(exchange, keys, ROUTES, credentials=credentials, demo=demo,
                         host=host)
        self._state = _State()
        self._streams = OkxStreams(exchange, self.keys, self.credentials, self._state.notes,
                                   self.errors)

    # -- the websocket side (okx_stream.py) ---------------------------------------------

    @property
    def ws_url(self) -> str:
        """The stream client appends OKX's paths, "/ws/v5/public" or "/ws/v5/private"."""
        return f"ws://{self.host}:{self.port}"

    @property
    def ws_messages(self) -> list[WsRecorded]:
        return self._streams.messages

    @property
    def ws_pings(self) -> int:
        """How many keepalive "ping"s clients sent (they are not in `ws_messages`)."""
        return self._streams.pings

    @property
    def mark_idle_push_seconds(self) -> float:
        """How often mark-price re-pushes an unchanged mark (OKX: 10 s)."""
        return self._streams.mark_idle_push_seconds

    @mark_idle_push_seconds.setter
    def mark_idle_push_seconds(self, seconds: float) -> None:
        self._streams.mark_idle_push_seconds = seconds
        self._streams.wake_all()  # the watchers wait by the old interval

    def drop_streams(self) -> None:
        """Cut every open websocket like a network drop (no close frame: code 1006)."""
        self._streams.drop()

    def streams_down(self, down: bool) -> None:
        """While True, websocket upgrades get HTTP 503 and open connections are cut."""
        self._streams.set_down(down)

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self._streams.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self._streams.close()  # before the runner, which would wait on open sockets
        await super().__aexit__(exc_type, exc, tb)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path in STREAM_PATHS:
            return await self._streams.handle(request)
        return await super()._handle(request)

    # -- REST in OKX's words ----------------------------------------------------------------

    def _decode(self, raw: str) -> Any:
        return clean(json.loads(raw))

    def _refuse(self, code: str, message: str | None = None,
                status: int | None = None) -> web.Response:
        return self._reply(error_answer(okx_error(code, message)), status)

    def _no_route(self, path: str) -> web.Response:
        return self._refuse("50000", f"no such endpoint {path}", 404)

    def _context(self, account: str | None, fields: dict[str, Any], body: Any) -> Ctx:
        items = body if isinstance(body, list) else []
        return Ctx(self.exchange, account, fields, items, self._state.notes, self._hang)

    def _refusal(self, exc: Exception) -> web.Response | None:
        return self._reply(error_answer(exc)) if isinstance(exc, VenueError) else None

    def _answer(self, result: Any) -> web.Response:
        return self._reply(result if isinstance(result, Answer) else Answer(result))

    def _authenticate(self, request: web.Request, raw_body: str) -> None:
        headers = request.headers
        for name in _AUTH_HEADERS:
            if not headers.get(name):
                raise okx_error("50103", f"Request header {name} can not be empty")
        key = headers["OK-ACCESS-KEY"]
        if key not in self.keys:
            raise okx_error("50111")
        if self.demo is not None:
            simulated = headers.get("x-simulated-trading", "0") == "1"
            if simulated != self.demo:
                raise okx_error("50101")
        creds = self.credentials.get(key)
        if creds is None:
            return
        if headers["OK-ACCESS-PASSPHRASE"] != creds.passphrase:
            raise okx_error("50105", "Invalid OK-ACCESS-PASSPHRASE")
        prehash = (headers["OK-ACCESS-TIMESTAMP"] + request.method + request.raw_path
                   + (raw_body if request.method != "GET" else ""))
        if not signed(creds.secret, prehash, headers["OK-ACCESS-SIGN"]):
            raise okx_error("50113")

    @staticmethod
    def _reply(answer: Answer, status: int | None = None) -> web.Response:
        return web.json_response(answer.body(), status=status or answer.status)
