"""A fake Bitget v2 (USDT-M futures) REST server on loopback, serving a `PaperExchange`,
for contract tests that run the UNMODIFIED ccxt `bitget` class against it.

    async with FakeBitgetServer(exchange, {"bg-key-main": "main"}) as bitget:
        venue = CcxtVenue("main", "bitget", ..., base_url=bitget.base_url)

What it imitates: Bitget's envelope (`{"code":"00000","msg":"success","requestTime":ms,
"data":..}`, numbers as strings), its error codes with HTTP statuses (400 for business
errors, 429 for the rate limit, 401 for keys, 500 for a busy or failing system), the
auth headers on private endpoints (the passphrase, and the signature when credentials
are given for a key), one paper account per API key, demo trading's `PAPTRADING`
header, sizes in base coin, hedge and one-way position modes. ccxt's classic-account
endpoints are served; its probe for a unified account is told "classic".

Faults: the engine's own (`reject_orders`, `never_fill`, `timeout_after_accept` = this
server never answers that request, latency) plus `fail_next` here, which answers the
next N requests (optionally of one path) with a Bitget code, e.g. "429" (rate limit) or
"40604" (server busy). Routes live in bitget_routes_account.py and bitget_routes_trade.py;
the request pipeline, the recording and `fail_next` in keyed_server.py, shared with the
OKX fake.

The same port serves Bitget's websocket API at `ws_url` + "/v2/ws/public" and
"/v2/ws/private" (bitget_stream.py, channels in bitget_channels.py), with its own faults:
`drop_streams()`, `streams_down(True)`, and `ws_messages`, what clients sent (pings only
counted, in `ws_pings`).
"""

from __future__ import annotations

from decimal import Decimal
from types import TracebackType
from typing import Any, Self
from urllib.parse import unquote

from aiohttp import web

from bot.venues.base import VenueError
from bot.venues.paper.engine import PaperExchange
from tests.fakes.bitget_routes_account import ROUTES as ACCOUNT_ROUTES
from tests.fakes.bitget_routes_account import Routes
from tests.fakes.bitget_routes_trade import ROUTES as TRADE_ROUTES
from tests.fakes.bitget_stream import STREAM_PATHS, BitgetStreams, WsRecorded
from tests.fakes.bitget_wire import (
    Answer,
    BitgetFault,
    Ctx,
    State,
    error_answer,
    from_engine,
    market_id,
)
from tests.fakes.keyed_server import Credentials, KeyedServer, Recorded, signed

__all__ = ["Credentials", "FakeBitgetServer", "Recorded", "WsRecorded"]

ROUTES: Routes = {**ACCOUNT_ROUTES, **TRADE_ROUTES}
_AUTH_HEADERS = (("ACCESS-KEY", "40001"), ("ACCESS-SIGN", "40003"),
                 ("ACCESS-TIMESTAMP", "40005"), ("ACCESS-PASSPHRASE", "40011"))


class FakeBitgetServer(KeyedServer[Ctx]):
    KEY_HEADER, BAD_JSON, BUG = "ACCESS-KEY", "40017", "40015"

    def __init__(self, exchange: PaperExchange, keys: dict[str, str], *,
                 credentials: dict[str, Credentials] | None = None, demo: bool | None = None,
                 min_trade_usdt: Decimal = Decimal(5), host: str = "127.0.0.1") -> None:
        """`keys` maps an API key to the paper account it trades. `demo` True/False makes
        private requests with the wrong `PAPTRADING` header fail with 40099, like a live
        key on demo trading; None accepts both. `min_trade_usdt` is the smallest opening
        order's value Bitget takes (45110 below it)."""
        super().__init__(exchange, keys, ROUTES, credentials=credentials, demo=demo,
                         host=host)
        self.state = State(min_trade_usdt=min_trade_usdt)
        self._markets = {market_id(i): i for i in exchange.instruments.values()}
        self._streams = BitgetStreams(exchange, self.keys, self.credentials, self.state,
                                      self._markets, self.errors)

    # -- the websocket side (bitget_stream.py) ------------------------------------------

    @property
    def ws_url(self) -> str:
        """The stream client appends Bitget's paths, "/v2/ws/public" or "/v2/ws/private"."""
        return f"ws://{self.host}:{self.port}"

    @property
    def ws_messages(self) -> list[WsRecorded]:
        return self._streams.messages

    @property
    def ws_pings(self) -> int:
        """How many keepalive "ping"s clients sent (they are not in `ws_messages`)."""
        return self._streams.pings

    @property
    def ticker_idle_push_seconds(self) -> float:
        """How often the ticker channel re-pushes an unchanged mark."""
        return self._streams.mark_idle_push_seconds

    @ticker_idle_push_seconds.setter
    def ticker_idle_push_seconds(self, seconds: float) -> None:
        self._streams.mark_idle_push_seconds = seconds
        self._streams.wake_all()

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

    def set_position_mode(self, account: str, pos_mode: str) -> None:
        """Switch an account between "hedge_mode" (the default) and "one_way_mode"."""
        self.state.pos_modes[account] = pos_mode

    def _refuse(self, code: str, message: str | None = None,
                status: int | None = None) -> web.Response:
        return self._reply(error_answer(BitgetFault(code, message)), status)

    def _no_route(self, path: str) -> web.Response:
        return self._refuse("40404", "Request URL NOT FOUND", 404)

    def _context(self, account: str | None, fields: dict[str, Any], body: Any) -> Ctx:
        return Ctx(self.exchange, account, fields, self.state, self._hang, self._markets)

    def _refusal(self, exc: Exception) -> web.Response | None:
        if isinstance(exc, BitgetFault):
            return self._reply(error_answer(exc))
        if isinstance(exc, VenueError):  # the engine's refusal, in OKX's codes
            return self._reply(error_answer(from_engine(exc)))
        return None

    def _answer(self, result: Any) -> web.Response:
        return self._reply(Answer(result))

    def _authenticate(self, request: web.Request, raw_body: str) -> None:
        headers = request.headers
        for name, code in _AUTH_HEADERS:
            if not headers.get(name):
                raise BitgetFault(code)
        key = headers["ACCESS-KEY"]
        if key not in self.keys:
            raise BitgetFault("40006")
        if self.demo is not None and (headers.get("PAPTRADING") == "1") != self.demo:
            raise BitgetFault("40099")
        creds = self.credentials.get(key)
        if creds is None:
            return
        if headers["ACCESS-PASSPHRASE"] != creds.passphrase:
            raise BitgetFault("40012")
        # Bitget signs timestamp + METHOD + path [+ "?" + the query as sent, undecoded]
        # + body; ccxt signs the query before percent-encoding it.
        prehash = (headers["ACCESS-TIMESTAMP"] + request.method + unquote(request.raw_path)
                   + raw_body)
        if not signed(creds.secret, prehash, headers["ACCESS-SIGN"]):
            raise BitgetFault("40009")

    def _reply(self, answer: Answer, status: int | None = None) -> web.Response:
        request_time = int(self.exchange.clock().timestamp() * 1000)
        return web.json_response(answer.body(request_time), status=status or answer.status)
