"""PTB's side of the local chat: a `BaseRequest` transport that answers every Bot API
call from a `LocalChat`, and an Application that tells the chat when an update has been
handled (so tests and the console can wait for the bot to finish)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationBuilder
from telegram.request import BaseRequest, RequestData

from handlers.local_chat import LocalChat
from handlers.local_chat_format import JSON
from handlers.telegram_limits import FittingBot


class LocalChatRequest(BaseRequest):
    """PTB transport that answers every Bot API call from a LocalChat, never the network."""

    def __init__(self, chat: LocalChat, read_timeout: float | None = 5.0) -> None:
        self.chat = chat
        self._read_timeout = read_timeout

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:  # nothing to open: no sockets
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = BaseRequest.DEFAULT_NONE,
                         write_timeout: Any = BaseRequest.DEFAULT_NONE,
                         connect_timeout: Any = BaseRequest.DEFAULT_NONE,
                         pool_timeout: Any = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        if method != "POST":  # file downloads (`retrieve`) have no local equivalent
            return 404, b'{"ok":false,"error_code":404,"description":"Not Found"}'
        params: JSON = dict(request_data.parameters) if request_data else {}
        if request_data is not None and request_data.contains_files:
            for name, part in request_data.multipart_data.items():  # uploads: note the name only
                params.setdefault(name, {"upload": part[0] if isinstance(part, tuple) else name})
        status, payload = await self.chat.call(url.rstrip("/").rsplit("/", 1)[-1], params)
        return status, json.dumps(payload).encode()


class LocalChatApplication(Application):  # type: ignore[type-arg]
    """Application that tells its LocalChat when an update is fully processed (for settle)."""

    def __init__(self, *, chat: LocalChat, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.local_chat = chat

    async def process_update(self, update: object) -> None:
        try:
            await super().process_update(update)  # block=True handlers finish in here
        finally:
            if isinstance(update, Update):
                self.local_chat.update_done(update.update_id)


def local_application_builder(chat: LocalChat, scrub: Callable[[str], str] | None = None
                              ) -> ApplicationBuilder:  # type: ignore[type-arg]
    """An ApplicationBuilder wired to `chat`, with the bot's own FittingBot as in
    production; add handlers/settings and call .build()."""
    bot = FittingBot("local", request=LocalChatRequest(chat),
                     get_updates_request=LocalChatRequest(chat), scrub=scrub)
    return ApplicationBuilder().bot(bot).application_class(LocalChatApplication, {"chat": chat})
