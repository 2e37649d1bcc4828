"""The status page's HTTP server: `GET /` (the page), `GET /api/status` (its data as
JSON) and `GET /healthz`, on aiohttp inside the bot's event loop. Read-only: any other
method is 405.

With a token every route but /healthz asks for it (`Authorization: Bearer <token>` or
`?token=<token>`), compared in constant time. Without one the server is only ever bound
to this machine (the config refuses anything else) and answers only requests addressed
to a local name, so a web page elsewhere cannot reach it by pointing its own domain name
at 127.0.0.1 (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiohttp import web

from bot.config import is_loopback
from bot.ops.overview import Overview, OverviewSnapshot
from web.data import Scrub, status_data
from web.page import status_html

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Every answer: never cached, never framed, never sniffed, and no page address (with its
# ?token=) sent on as a referrer.
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
           "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}
# The page's only script is its own (by nonce); it may fetch only this server.
PAGE_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; "
               "connect-src 'self'; base-uri 'none'; form-action 'none'; "
               "frame-ancestors 'none'")
_dumps = partial(json.dumps, ensure_ascii=False)


class SharedSnapshot:
    """Requests that arrive while an overview is being gathered share it: each one asks
    every venue, and a few open pages must not multiply that."""

    def __init__(self, overview: Overview) -> None:
        self._overview = overview
        self._pending: asyncio.Future[OverviewSnapshot] | None = None

    async def get(self) -> OverviewSnapshot:
        if self._pending is None or self._pending.done():
            self._pending = asyncio.ensure_future(self._overview.snapshot())
        # A page closed mid-request must not cancel what the other requests wait for.
        return await asyncio.shield(self._pending)

    def cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()


class StatusPage:
    def __init__(self, overview: Overview, *, token: str | None, scrub: Scrub,
                 serving: Callable[[], bool]) -> None:
        self._snapshot = SharedSnapshot(overview)
        self._token = token.strip().encode() if token else None
        self._scrub = scrub
        self._serving = serving
        self._runner: web.AppRunner | None = None
        self.host = ""
        self.port = 0

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/", self._page)
        app.router.add_get("/api/status", self._api)
        app.router.add_get("/healthz", self._health)
        app.on_response_prepare.append(_security_headers)
        return app

    async def start(self, host: str, port: int) -> None:
        """Listening once this returns; OSError when the address cannot be bound."""
        # No access log: a line per refresh would bury the bot's own, one per event.
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.host, self.port = host, runner.addresses[0][1]
        log.info("status_page_serving url=%s", self.url)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._snapshot.cancel()  # the venues are closed next

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.http_exception is not None:  # 404, 405: nothing to guard
            return await handler(request)
        if self._token is None and not _addressed_locally(request):
            return _refused(403, "this page answers only at a local address such as "
                                 "127.0.0.1 (or set status_page.token)")
        if self._token is not None and request.path != "/healthz" and not self._allowed(
                request):
            return _refused(401, "a token is required: Authorization: Bearer <token> or "
                                 "?token=<token>", {"WWW-Authenticate": "Bearer"})
        return await handler(request)

    def _allowed(self, request: web.Request) -> bool:
        assert self._token is not None
        bearer = request.headers.get("Authorization", "")
        given = (bearer[7:] if bearer[:7].lower() == "bearer " else
                 request.query.get("token", ""))
        return hmac.compare_digest(given.strip().encode(), self._token)

    async def _data(self) -> dict[str, Any]:
        return status_data(await self._snapshot.get(), self._scrub)

    async def _page(self, request: web.Request) -> web.Response:
        nonce = secrets.token_urlsafe(16)
        return web.Response(text=status_html(await self._data(), nonce=nonce),
                            content_type="text/html",
                            headers={"Content-Security-Policy": PAGE_POLICY.format(nonce=nonce)})

    async def _api(self, request: web.Request) -> web.Response:
        return web.json_response(await self._data(), dumps=_dumps)

    async def _health(self, request: web.Request) -> web.Response:
        if self._serving():
            return web.json_response({"status": "ok"})
        return web.json_response({"status": "not serving"}, status=503)


def _addressed_locally(request: web.Request) -> bool:
    try:
        return is_loopback(request.url.host or "")
    except ValueError:  # a Host header that is not a host
        return False


def _refused(status: int, why: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": why}, status=status, headers=headers)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(HEADERS)
