"""What the fake OKX and Bitget servers share on top of `LoopbackServer`: both are JSON
REST venues whose private endpoints take an API key naming a paper account (its
passphrase and signature checked when credentials are given for the key), and both take
faults as their venue's own error codes (`fail_next`).

`_handle` is one pipeline for both, because its order is what the tests rely on: a
request is recorded, waits out the latency fault, then meets a queued failure, the route
table, authentication and its route. A subclass speaks its venue: the header naming the
key, its error answers, its authentication, the route context and the success envelope.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from aiohttp import web

from bot.venues.paper.engine import PaperExchange
from tests.fakes.loopback import LoopbackServer

log = logging.getLogger(__name__)

CtxT = TypeVar("CtxT")
# (method, path) -> (handler, private): a handler takes the venue's route context
Routes = Mapping[tuple[str, str], tuple[Callable[[CtxT], Awaitable[Any]], bool]]


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
class Credentials:
    """Optional: when given for a key, the passphrase and the signature are checked too."""

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


def signed(secret: str, prehash: str, signature: str) -> bool:
    """OKX and Bitget sign alike, each over its own prehash: base64 of HMAC-SHA256."""
    digest = hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(digest).decode(), signature)


class KeyedServer(LoopbackServer[Recorded], Generic[CtxT], ABC):
    """A venue whose private endpoints take an API key; see the module docstring."""

    KEY_HEADER: ClassVar[str]  # the header with the API key, thus the paper account
    BAD_JSON: ClassVar[str]  # the venue's code for a body that is not JSON
    BUG: ClassVar[str]  # the venue's code for a system error: a route raised unexpectedly

    def __init__(self, exchange: PaperExchange, keys: dict[str, str], routes: Routes[CtxT],
                 *, credentials: dict[str, Credentials] | None, demo: bool | None,
                 host: str) -> None:
        super().__init__(exchange, host)
        self.keys = dict(keys)
        self.credentials = dict(credentials or {})
        self.demo = demo
        self._routes = routes
        self._failures: list[_Failure] = []

    def fail_next(self, code: str, *, times: int = 1, path: str | None = None,
                  method: str | None = None, message: str | None = None,
                  status: int | None = None) -> None:
        """Answer the next `times` requests (of `path` and `method`, when given) with the
        venue's error `code`, at the HTTP status the venue uses for it unless `status` is
        given."""
        self._failures.append(_Failure(code, times, path, method, message, status))

    def requests_to(self, path: str, method: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if r.path == path and method in (None, r.method)]

    # -- one request --------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        path, method = request.path, request.method
        query = {k: v for k, v in request.query.items() if v != ""}
        raw = await request.text()
        try:
            body = self._decode(raw) if raw else {}
        except ValueError:
            return self._refuse(self.BAD_JSON, "Invalid JSON body")
        account = self.keys.get(request.headers.get(self.KEY_HEADER, ""))
        self.requests.append(Recorded(method, path, query, body, account,
                                      dict(request.headers)))
        await self._latency()
        failure = self._take_failure(method, path)
        if failure is not None:
            return self._refuse(failure.code, failure.message, failure.status)
        route = self._routes.get((method, path))
        if route is None:
            return self._no_route(path)
        handler, private = route
        try:
            if private:
                self._authenticate(request, raw)
            fields = query if method == "GET" else (body if isinstance(body, dict) else {})
            result = await handler(self._context(account if private else None, fields, body))
        except Exception as exc:
            refusal = self._refusal(exc)
            if refusal is not None:
                return refusal
            # a bug in the fake: the test should hear about it
            log.exception("fake_route_failed server=%s path=%s", type(self).__name__, path)
            self.errors.append(exc)
            return self._refuse(self.BUG)
        return self._answer(result)

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        for failure in self._failures:
            if failure.path in (None, path) and failure.method in (None, method):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    # -- what a venue says its own way ----------------------------------------------------

    def _decode(self, raw: str) -> Any:
        """A non-empty body as JSON; ValueError when it is not."""
        return json.loads(raw)

    @abstractmethod
    def _refuse(self, code: str, message: str | None = None,
                status: int | None = None) -> web.Response:
        """The venue's error answer for `code`, at its usual status unless given."""

    @abstractmethod
    def _no_route(self, path: str) -> web.Response:
        """The venue's answer for a path it does not serve."""

    @abstractmethod
    def _authenticate(self, request: web.Request, raw_body: str) -> None:
        """Raise the venue's refusal unless the request may use a private endpoint."""

    @abstractmethod
    def _context(self, account: str | None, fields: dict[str, Any], body: Any) -> CtxT:
        """The route context; `fields` is the query (GET) or the JSON object body."""

    @abstractmethod
    def _refusal(self, exc: Exception) -> web.Response | None:
        """The answer to an exception the venue expects from a route; None for a bug."""

    @abstractmethod
    def _answer(self, result: Any) -> web.Response:
        """A route's result in the venue's success envelope."""
