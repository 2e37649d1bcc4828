"""What the local chat stores and shows: transcript entries, Bot API errors, and the text
a user would see once Telegram has rendered HTML or MarkdownV2."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]
_HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
              "a", "code", "pre", "blockquote", "tg-emoji"}


@dataclass
class ChatEvent:
    """One line of the transcript. kind: said|revised|pressed|injected (user: a message,
    an edit of one, a button, any other update), sent|edited|photo|deleted|answer (bot)."""

    kind: str
    text: str
    buttons: list[str] = field(default_factory=list)
    message_id: int | None = None
    chat_id: int | None = None


class ApiError(Exception):
    """Raised inside a method implementation; becomes a Bot API error answer."""

    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def buttons_of(message: JSON | None) -> list[JSON]:
    """Inline buttons in reading order (row by row) - this order defines the 1..n numbering."""
    rows = ((message or {}).get("reply_markup") or {}).get("inline_keyboard") or []
    return [button for row in rows for button in row]


def render(text: Any, parse_mode: str | None) -> str:
    """Return what the user would see, rejecting markup that Telegram itself would reject,
    so a bad parse_mode string fails here instead of in production."""
    text = "" if text is None else str(text)
    mode = (parse_mode or "").lower()
    bad = "Bad Request: can't parse entities: "
    if mode == "html":
        for match in re.finditer(r"<(/?)([^\s>/]*)", text):
            if match.group(2).lower() not in _HTML_TAGS:
                raise ApiError(400, f'{bad}Unsupported start tag "{match.group(2)}"')
        return html.unescape(re.sub(r"<[^>]*>", "", text))
    if mode == "markdownv2":
        plain = re.sub(r"```.*?```|`[^`]*`", "", text, flags=re.S)  # code: other rules apply
        plain = re.sub(r"\\.", "", re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", plain))
        plain = re.sub(r"(^|\n)>", r"\1", plain.replace("||", ""))
        for char in "[]()>#+-={}.!|":
            if char in plain:
                raise ApiError(400, f"{bad}Character '{char}' is reserved and must be escaped "
                               "with the preceding '\\'")
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
        return re.sub(r"\\(.)", r"\1", re.sub(r"(?<!\\)(\|\||[*_~`])", "", text))
    if mode == "markdown":
        return re.sub(r"[*_`]", "", re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text))
    return text
