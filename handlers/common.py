"""What every handler shares: the services it works with and the user's language."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot import messages
from bot.busy import BusyPositions
from bot.config import AlertMode, Config
from bot.domain import Instrument
from bot.execution import Executor
from bot.venues.base import Venue
from db.repo import Store
from jobs.scheduler import Jobs, PauseSwitch

log = logging.getLogger(__name__)

SERVICES_KEY = "services"
# Callback data prefixes of confirmation buttons: "<prefix>:<token>[:<choice>]".
CONFIRM, CANCEL, SIDE, WATCH = "cf", "cx", "cs", "wa"
VENUE_READ_TIMEOUT = 10.0  # seconds a report waits for one venue before saying it is down


@dataclass(slots=True)
class Services:
    config: Config
    store: Store
    venues: Mapping[str, Venue]
    jobs: Jobs
    pause: PauseSwitch
    clock: Callable[[], datetime]
    executor: Executor
    busy: BusyPositions

    def lang(self) -> str:
        return self.store.language(self.config.language)

    def text(self, key: str, **values: object) -> str:
        return messages.text(self.lang(), key, **values)

    def size(self, contracts: Decimal, inst: Instrument) -> str:
        return messages.size_text(self.lang(), contracts, inst)


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


def reason(s: Services, exc: Any) -> str:
    """A refusal (BadCommand, PlanError: a `key` and its values) in the user's language;
    a position side among the values is translated too."""
    values = dict(exc.values)
    if "side" in values:  # optional in the text: " long", " 多" or nothing
        values["side"] = f" {s.text(values['side'])}" if values["side"] else ""
    return s.text(f"bad_{exc.key}", **values)


async def send_alert(bot: Bot, config: Config, kind: str, text: str,
                     markup_for: Callable[[int], InlineKeyboardMarkup | None] | None = None
                     ) -> None:
    """A push message to every alert chat, as `telegram.alerts.<kind>` says (on, silent or
    off). `markup_for(chat_id)` gives a chat its buttons (a private chat's id is its user's
    id, which confirmation buttons are bound to). One chat failing does not stop the rest."""
    mode = getattr(config.telegram.alerts, kind)
    if mode is AlertMode.OFF:
        return
    for chat_id in config.telegram.alert_chat_ids:
        try:
            await bot.send_message(chat_id, text, disable_notification=mode is AlertMode.SILENT,
                                   reply_markup=markup_for(chat_id) if markup_for else None)
        except TelegramError:  # an alert that cannot be delivered is logged, not fatal
            log.exception("alert_failed chat_id=%s kind=%s", chat_id, kind)
