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
Routes live in okx_routes_account.py and okx_routes_trade.py.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

from bot.venues.base import VenueError
from bot.venues.okx.codes import okx_error
from bot.venues.paper.engine import PaperExchange
from tests.fakes.okx_routes_account import ROUTES as ACCOUNT_ROUTES
from tests.fakes.okx_routes_account import Routes
from tests.fakes.okx_routes_trade import ROUTES as TRADE_ROUTES
from tests.fakes.okx_wire import Answer, Ctx, OrderNotes, clean, error_answer

log = logging.getLogger(__name__)

ROUTES: Routes = {**ACCOUNT_ROUTES, **TRADE_ROUTES}
HANG_SECONDS = 30.0  # an unanswered request is held this long at most (or until close)
_AUTH_HEADERS = ("OK-ACCESS-KEY", "OK-ACCESS-SIGN", "OK-ACCESS-TIMESTAMP",
                 "OK-ACCESS-PASSPHRASE")


@dataclass(slots=True)
class Recorded:
    """One request as it arrived: for asserting what an SDK really sent."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    account: str | None
    headers: dict[str, str]


@dataclass(slots=True)
class _Failure:
    code: str
    remaining: int
    path: str | None
    method: str | None
    message: str | None
    status: int | None


@dataclass(slots=True)
class Credentials:
    """Optional: when given for a key, the signature and passphrase are checked too."""

    secret: str
    passphrase: str


@dataclass(slots=True)
class _State:
    failures: list[_Failure] = field(default_factory=list)
    notes: OrderNotes = field(default_factory=OrderNotes)


class FakeOkxServer:
    def __init__(self, exchange: PaperExchange, keys: dict[str, str], *,
                 credentials: dict[str, Credentials] | None = None, demo: bool | None = None,
                 host: str = "127.0.0.1") -> None:
        """`keys` maps an API key to the paper account it trades. `demo` True/False makes
        private requests with the wrong `x-simulated-trading` header fail with 50101,
        like a live key on the demo site; None accepts both."""
        self.exchange = exchange
        self.keys = dict(keys)
        self.credentials = dict(credentials or {})
        self.demo = demo
        self.host, self.port = host, 0
        self.requests: list[Recorded] = []
        self.errors: list[BaseException] = []  # exceptions a route did not expect
        self._state = _State()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def fail_next(self, code: str, *, times: int = 1, path: str | None = None,
                  method: str | None = None, message: str | None = None,
                  status: int | None = None) -> None:
        """Answer the next `times` requests (of `path` and `method`, when given) with
        OKX error `code`, at the HTTP status OKX uses for it unless `status` is given."""
        self._state.failures.append(_Failure(code, times, path, method, message, status))

    def requests_to(self, path: str, method: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if r.path == path and method in (None, r.method)]

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> FakeOkxServer:
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
            body = clean(json.loads(raw)) if raw else {}
        except ValueError:
            return self._reply(error_answer(okx_error("50002", "Invalid JSON body")))
        account = self.keys.get(request.headers.get("OK-ACCESS-KEY", ""))
        self.requests.append(Recorded(method, path, query, body, account,
                                      dict(request.headers)))
        if self.exchange.faults.latency_seconds:
            await asyncio.sleep(self.exchange.faults.latency_seconds)
        failure = self._take_failure(method, path)
        if failure is not None:
            answer = error_answer(okx_error(failure.code, failure.message))
            return self._reply(answer, failure.status)
        route = ROUTES.get((method, path))
        if route is None:
            return web.json_response({"code": "50000", "msg": f"no such endpoint {path}",
                                      "data": []}, status=404)
        handler, private = route
        try:
            if private:
                self._authenticate(request, raw)
            fields = query if method == "GET" else (body if isinstance(body, dict) else {})
            items = body if isinstance(body, list) else []
            ctx = Ctx(self.exchange, account if private else None, fields, items,
                      self._state.notes, self._hang)
            result = await handler(ctx)
        except VenueError as exc:
            return self._reply(error_answer(exc))
        except Exception as exc:  # a bug in the fake: the test should hear about it
            log.exception("fake_okx_route_failed path=%s", path)
            self.errors.append(exc)
            return self._reply(error_answer(okx_error("50026")))
        return self._reply(result if isinstance(result, Answer) else Answer(result))

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        for failure in self._state.failures:
            if failure.path in (None, path) and failure.method in (None, method):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._state.failures.remove(failure)
                return failure
        return None

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
        digest = hmac.new(creds.secret.encode(), prehash.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(),
                                   headers["OK-ACCESS-SIGN"]):
            raise okx_error("50113")

    @staticmethod
    def _reply(answer: Answer, status: int | None = None) -> web.Response:
        return web.json_response(answer.body(), status=status or answer.status)
