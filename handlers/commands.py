"""Every command the bot answers, and the gate and error handler around them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from handlers import (
    basic,
    buttons,
    chart,
    close,
    correct,
    gate,
    grid,
    history,
    maintain,
    messages,
    orders,
    reports,
    tp,
    why,
)
from handlers.common import SERVICES_KEY
from handlers.telegram_limits import FittingBot

if TYPE_CHECKING:  # (a cluster's only: psycopg is not loaded without one)
    from handlers.handoff import Handover

COMMANDS = {
    "start": basic.start,
    "help": basic.help_,
    "status": reports.status,
    "positions": reports.positions,
    "pause": basic.pause,
    "resume": basic.resume,
    "close": close.close_command,
    "maintain": maintain.maintain_command,
    "supermaintain": maintain.supermaintain_command,
    "tp": tp.tp_command,
    "correct": correct.correct_command,
    "grid": grid.grid_command,
    "why": why.why_command,
    "chart": chart.chart_command,
    "history": history.history_command,
    "pnl": history.pnl_command,
    "orders": orders.orders_command,
    "lang": basic.lang,
}


def register(app: Application, handover: Handover | None = None) -> None:  # type: ignore[type-arg]
    """Every handler; in a cluster also `handover`'s, which sends a button press for an
    account held by another process there (after the gatekeeper, before the handlers)."""
    if isinstance(app.bot, FittingBot):
        app.bot.read_updates_through(gate.quiet_strangers(app.bot_data[SERVICES_KEY]))
    app.add_handler(TypeHandler(Update, gate.gatekeeper), group=-2)
    if handover is not None:
        app.add_handler(TypeHandler(Update, handover.route), group=-1)
        app.bot_data[SERVICES_KEY].handover = handover
    # Only a new message is a command (the gate stops the rest first; this holds without it).
    new = filters.UpdateType.MESSAGE
    for name, callback in COMMANDS.items():
        app.add_handler(CommandHandler(name, gate.fenced(callback), filters=new))
    # every press: it parses strictly
    app.add_handler(CallbackQueryHandler(gate.fenced(buttons.on_button)))
    app.add_handler(MessageHandler(new, basic.unknown))
    app.add_error_handler(gate.on_error)


def bot_commands(lang: str) -> list[BotCommand]:
    return [BotCommand(name, desc) for name, desc in messages.COMMANDS[lang].items()]
