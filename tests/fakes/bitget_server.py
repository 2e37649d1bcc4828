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
"40604" (server busy). Routes live in bitget_routes_account.py and bitget_routes_trade.py.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from bot.venues.base import VenueError
from bot.venues.paper.engine import PaperExchange
from tests.fakes.bitget_routes_account import ROUTES as ACCOUNT_ROUTES
from tests.fakes.bitget_routes_account import Routes
from tests.fakes.bitget_routes_trade import ROUTES as TRADE_ROUTES
from tests.fakes.bitget_wire import (
    Answer,
    BitgetFault,
    Ctx,
    State,
    error_answer,
    from_engine,
    market_id,
)

log = logging.getLogger(__name__)

ROUTES: Routes = {**ACCOUNT_ROUTES, **TRADE_ROUTES}
HANG_SECONDS = 30.0  # an unanswered request is held this long at most (or until close)
_AUTH_HEADERS = (("ACCESS-KEY", "40001"), ("ACCESS-SIGN", "40003"),
                 ("ACCESS-TIMESTAMP", "40005"), ("ACCESS-PASSPHRASE", "40011"))


@dataclass(slots=True)
class Recorded:
    """One request as it arrived: for asserting what ccxt really sent."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    account: str | None
    headers: dict[str, str]


@dataclass(slots=True)
class Credentials:
    """Optional: when given for a key, the passphrase and the signature are checked."""

    secret: str
    passphrase: str


@dataclass(slots=True)
class _Failure:
    code: str
    remaining: int
    path: str | None
    method: str | None
    message: str | None
    status: int | None


class FakeBitgetServer:
    def __init__(self, exchange: PaperExchange, keys: dict[str, str], *,
                 credentials: dict[str, Credentials] | None = None, demo: bool | None = None,
                 min_trade_usdt: Decimal = Decimal(5), host: str = "127.0.0.1") -> None:
        """`keys` maps an API key to the paper account it trades. `demo` True/False makes
        private requests with the wrong `PAPTRADING` header fail with 40099, like a live
        key on demo trading; None accepts both. `min_trade_usdt` is the smallest opening
        order's value Bitget takes (45110 below it)."""
        self.exchange = exchange
        self.keys = dict(keys)
        self.credentials = dict(credentials or {})
        self.demo = demo
        self.host, self.port = host, 0
        self.requests: list[Recorded] = []
        self.errors: list[BaseException] = []  # exceptions a route did not expect
        self.state = State(min_trade_usdt=min_trade_usdt)
        self._markets = {market_id(i): i for i in exchange.instruments.values()}
        self._failures: list[_Failure] = []
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def fail_next(self, code: str, *, times: int = 1, path: str | None = None,
                  method: str | None = None, message: str | None = None,
                  status: int | None = None) -> None:
        """Answer the next `times` requests (of `path` and `method`, when given) with
        Bitget error `code`, at the HTTP status Bitget uses for it unless `status` is
        given."""
        self._failures.append(_Failure(code, times, path, method, message, status))

    def requests_to(self, path: str, method: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if r.path == path and method in (None, r.method)]

    def set_position_mode(self, account: str, pos_mode: str) -> None:
        """Switch an account between "hedge_mode" (the default) and "one_way_mode"."""
        self.state.pos_modes[account] = pos_mode

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> FakeBitgetServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self._closing.set()  # releases requests held by the timeout fault
        if self._runner is not None:
            await self._runner.cleanup()

    async def _hang(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), HANG_SECONDS)

    # -- one request --------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        path, method = request.path, request.method
        query = {k: v for k, v in request.query.items() if v != ""}
        raw = await request.text()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self._reply(error_answer(BitgetFault("40017", "Invalid JSON body")))
        account = self.keys.get(request.headers.get("ACCESS-KEY", ""))
        self.requests.append(Recorded(method, path, query, body, account,
                                      dict(request.headers)))
        if self.exchange.faults.latency_seconds:
            await asyncio.sleep(self.exchange.faults.latency_seconds)
        failure = self._take_failure(method, path)
        if failure is not None:
            return self._reply(error_answer(BitgetFault(failure.code, failure.message)),
                               failure.status)
        route = ROUTES.get((method, path))
        if route is None:
            return self._reply(error_answer(BitgetFault("40404", "Request URL NOT FOUND")),
                               404)
        handler, private = route
        try:
            if private:
                self._authenticate(request, raw)
            fields = query if method == "GET" else (body if isinstance(body, dict) else {})
            ctx = Ctx(self.exchange, account if private else None, fields, self.state,
                      self._hang, self._markets)
            data = await handler(ctx)
        except BitgetFault as fault:
            return self._reply(error_answer(fault))
        except VenueError as exc:  # the engine's refusal, in OKX's codes
            return self._reply(error_answer(from_engine(exc)))
        except Exception as exc:  # a bug in the fake: the test should hear about it
            log.exception("fake_bitget_route_failed path=%s", path)
            self.errors.append(exc)
            return self._reply(error_answer(BitgetFault("40015")))
        return self._reply(Answer(data))

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        for failure in self._failures:
            if failure.path in (None, path) and failure.method in (None, method):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                return failure
        return None

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
        digest = hmac.new(creds.secret.encode(), prehash.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), headers["ACCESS-SIGN"]):
            raise BitgetFault("40009")

    def _reply(self, answer: Answer, status: int | None = None) -> web.Response:
        request_time = int(self.exchange.clock().timestamp() * 1000)
        return web.json_response(answer.body(request_time), status=status or answer.status)
