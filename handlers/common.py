"""What every handler shares: the use cases, the user's language, and sending."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot.config import AlertMode, Config
from bot.domain import Instrument
from bot.ops.ops import Ops
from bot.ops.refusal import Contracts, Refusal, Usdt
from db.aio import AsyncStore
from handlers import messages

if TYPE_CHECKING:
    from handlers.handoff import Handover

log = logging.getLogger(__name__)

SERVICES_KEY = "services"
# Callback data prefixes of confirmation buttons: "<prefix>:<token>[:<choice>]".
CONFIRM, CANCEL, SIDE, WATCH = "cf", "cx", "cs", "wa"
# Refusals told in a sentence of their own, not as "<reason>\nUsage: …".
STANDALONE = {"position_busy", "venue_read_failed", "unknown_account"}
# Refusals about how the command was written: only these end with the command's usage.
# The others (no such position, a balance short, an unknown coin) are about the account
# or the market, where the usage line would only hide the reason.
FORM = {"missing_symbol", "missing_symbol_only", "missing_size", "too_many", "not_symbol",
        "side_twice", "account_twice", "not_account_or_side", "percent_over", "not_size",
        "not_positive", "target_not_below"}
POSITION_CHANGED = {"changed_gone", "changed_smaller", "changed_size"}


@dataclass(slots=True)
class Services:
    """`store` is for the confirmations and the language, the front's own state; every
    use case goes through `ops`."""

    config: Config
    ops: Ops
    store: AsyncStore
    clock: Callable[[], datetime]
    started_at: datetime  # this process's start: commands written long before it are stale
    handover: Handover | None = None  # a cluster's: what other processes run

    def lang(self) -> str:
        return self.ops.control.language()

    def text(self, key: str, **values: object) -> str:
        return messages.text(self.lang(), key, **values)

    def size(self, contracts: Decimal, inst: Instrument) -> str:
        return messages.size_text(self.lang(), contracts, inst)

    def refusal(self, exc: Refusal, usage_key: str | None = None) -> str:
        """A refusal in the user's language: standalone, as a changed position, or, when
        the command was written wrong, as the reason with the command's usage."""
        if exc.key in POSITION_CHANGED:
            return self.text("position_changed", reason=self.text(
                exc.key, **self._values(exc, spaced_side=False)))
        if usage_key is None or exc.key not in FORM:
            return self.reason(exc)
        return self.text("bad_argument", reason=self.reason(exc), usage=self.text(usage_key))

    def reason(self, exc: Refusal) -> str:
        """Only the reason, as another message embeds it."""
        if exc.key in STANDALONE:
            return self.text(exc.key, **self._values(exc, spaced_side=False))
        return self.text(f"bad_{exc.key}", **self._values(exc, spaced_side=True))

    def _values(self, exc: Refusal, *, spaced_side: bool) -> dict[str, object]:
        values: dict[str, object] = {}
        for key, value in exc.values.items():
            if isinstance(value, Contracts):
                value = self.size(value.size, value.instrument)
            elif isinstance(value, Usdt):
                value = messages.fmt_usdt(value.amount)
            elif isinstance(value, Decimal):
                value = messages.fmt_plain(value)
            elif key == "side" and spaced_side:  # optional in the reasons: " long" or nothing
                value = f" {self.text(str(value))}" if value else ""
            elif key == "side":
                value = self.text(str(value))
            values[key] = value
        return values


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.bot_data[SERVICES_KEY]  # type: ignore[no-any-return]


async def reply(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str,
                **values: object) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(services(context).text(key, **values))


def split_message(text: str, limit: int = 4000) -> list[str]:
    """Telegram takes at most 4096 characters a message: split on line boundaries."""
    parts: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        if len(current) + len(line) > limit and current:
            parts.append(current)
            current = ""
        current += line if len(line) <= limit else line[: limit - 1] + "…\n"
    if current:
        parts.append(current)
    return parts


async def reply_long(update: Update, text: str) -> None:
    for part in split_message(text):
        await update.effective_message.reply_text(part)  # type: ignore[union-attr]


async def edit(message: object, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Edit a message the bot sent; editing to the same text is not an error."""
    if not isinstance(message, Message):
        return
    try:
        await message.edit_text(text, reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


def confirm_markup(s: Services, token: str, confirm_key: str = "button_confirm"
                   ) -> InlineKeyboardMarkup:
    """[Confirm] [Cancel] for a stored confirmation."""
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(s.text(confirm_key), callback_data=f"{CONFIRM}:{token}"),
        InlineKeyboardButton(s.text("button_cancel"), callback_data=f"{CANCEL}:{token}")]])


def token_of(markup: InlineKeyboardMarkup) -> str:
    """The confirmation token behind a keyboard's first button."""
    return str(markup.inline_keyboard[0][0].callback_data).split(":")[1]


async def send_alert(bot: Bot, config: Config, kind: str, text: str,
                     markup_for: Callable[[int], Awaitable[InlineKeyboardMarkup | None]]
                     | None = None) -> None:
    """A push message to every alert chat, as `telegram.alerts.<kind>` says (on, silent or
    off). `markup_for(chat_id)` gives a chat its buttons (a private chat's id is its user's
    id, which confirmation buttons are bound to). One chat failing does not stop the rest."""
    mode = getattr(config.telegram.alerts, kind)
    if mode is AlertMode.OFF:
        return
    for chat_id in config.telegram.alert_chat_ids:
        try:
            markup = await markup_for(chat_id) if markup_for else None
            await bot.send_message(chat_id, text, disable_notification=mode is AlertMode.SILENT,
                                   reply_markup=markup)
        except TelegramError:  # an alert that cannot be delivered is logged, not fatal
            log.exception("alert_failed chat_id=%s kind=%s", chat_id, kind)
