"""Out: every text the bot sends fits Telegram's limits. `FittingBot` is the bot every
send, edit and answer goes through, on the Bot API and in the local chat alike; it also
hands each batch of raw updates to `inbound` before python-telegram-bot parses them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from telegram.ext import ExtBot

log = logging.getLogger(__name__)

# Telegram's limits, in UTF-16 code units as Telegram counts them: a message text, a
# caption, the notice of a button press.
TEXT, CAPTION, NOTICE = 4096, 1024, 200


def fit(text: str, limit: int) -> str:
    """`text` if it fits in `limit` UTF-16 code units, else its start and "…"."""
    if len(text.encode("utf-16-le")) <= 2 * limit:
        return text
    kept, units = [], 0
    for char in text:
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit - 1:
            break
        kept.append(char)
    return "".join(kept) + "…"


class FittingBot(ExtBot):  # type: ignore[type-arg]
    """The bot every send, edit and answer goes through (the Application's, so also each
    message's and query's): a text over Telegram's limit is cut to fit and logged, never
    refused by Telegram. Long reports are split before (handlers.common.split_message);
    this is the guarantee for everything else. Every text is plain (no parse_mode), so a cut
    cannot break markup. `scrub` masks the configured secrets in every text first: an
    exchange's error message that repeats a key must not carry it into a chat."""

    __slots__ = ("_inbound", "_scrub")

    def __init__(self, *args: Any, scrub: Callable[[str], str] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._scrub = scrub
        self._inbound: Callable[[Sequence[Any]], list[Any]] | None = None

    def read_updates_through(self, inbound: Callable[[Sequence[Any]], list[Any]]) -> None:
        """Raw updates in, raw updates out (the same update ids, in order): the gate's
        pre-check, set by handlers.commands.register."""
        self._inbound = inbound

    async def _do_post(self, endpoint: str, data: dict[str, Any], **kwargs: Any) -> Any:
        if self._scrub is not None:
            for key in ("text", "caption"):
                if isinstance(data.get(key), str):
                    data[key] = self._scrub(data[key])
        limits = {"text": NOTICE} if endpoint == "answerCallbackQuery" else {
            "text": TEXT, "caption": CAPTION}
        for key, limit in limits.items():
            value = data.get(key)
            if isinstance(value, str) and (fitted := fit(value, limit)) != value:
                log.warning("text_cut endpoint=%s field=%s length=%d limit=%d",
                            endpoint, key, len(value), limit)
                data[key] = fitted
        result = await super()._do_post(endpoint, data, **kwargs)
        if endpoint == "getUpdates" and self._inbound is not None and isinstance(result, list):
            return self._inbound(result)
        return result
