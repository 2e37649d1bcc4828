"""A fake Telegram Bot API HTTP server on loopback, for tests that drive the REAL PTB over HTTP.

Method semantics come from `handlers.local_chat.LocalChat`; this module only adds the wire
format: `POST /bot<token>/<method>` with form-urlencoded or multipart bodies whose non-string
values are JSON-encoded (that is how PTB 22.8 sends every call), answered with Bot API JSON.

    async with FakeTelegramServer() as server:
        app = (ApplicationBuilder().token(server.token).base_url(server.base_url)
               .application_class(LocalChatApplication, {"chat": server.chat}).build())
"""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any

from aiohttp import web

from handlers.local_chat import LocalChat

# PTB sends these as raw strings; JSON-decoding them would turn a text "42" into an int.
_STRING_FIELDS = frozenset({"text", "caption", "callback_query_id", "inline_message_id",
                            "parse_mode", "url", "title", "description", "language_code"})
_UNAUTHORIZED = {"ok": False, "error_code": 401, "description": "Unauthorized"}


def _decode(name: str, value: Any) -> Any:
    if not isinstance(value, str) or name in _STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # plain strings such as parse_mode=HTML or chat_id=@channel


class FakeTelegramServer:
    """aiohttp server on 127.0.0.1:<ephemeral port> answering from a LocalChat."""

    def __init__(self, token: str = "123456:TEST-TOKEN", chat: LocalChat | None = None,
                 host: str = "127.0.0.1") -> None:
        self.token, self.host = token, host
        self.chat = chat if chat is not None else LocalChat()
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """For ApplicationBuilder().base_url(...): PTB appends `<token>/<method>`."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """Every API call with its decoded parameters, in order."""
        return self.chat.calls

    def inject_retry_after(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with HTTP 429 flood control."""
        self.chat.fail_next(method, status=429, retry_after=retry_after, times=times)

    async def start(self) -> None:
        app = web.Application(client_max_size=50 * 1024 * 1024)  # photos can exceed 1 MiB
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        # A short shutdown_timeout: a long poll whose client went away must not delay stop().
        self._runner = web.AppRunner(app, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            self.chat.interrupt_polls()  # release pending getUpdates long polls first
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegramServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(_UNAUTHORIZED, status=401)
        params = await self._parameters(request)
        status, payload = await self.chat.call(request.match_info["method"], params)
        return web.json_response(payload, status=status)

    @staticmethod
    async def _parameters(request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":  # other clients may send JSON bodies
            body = await request.json() if request.can_read_body else {}
            return {k: _decode(k, v) for k, v in params.items()} | body
        for name, value in (await request.post()).items():  # urlencoded and multipart alike
            if isinstance(value, web.FileField):
                params[name] = {"upload": value.filename, "size": len(value.file.read())}
            else:
                params[name] = value if isinstance(value, str) else value.decode()
        return {name: _decode(name, value) for name, value in params.items()}
