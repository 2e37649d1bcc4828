"""LocalChat (in-process Bot API), ConsoleChat and the fake HTTP Bot API server, driven by a
tiny real PTB application: /ping answers "pong" with [Yes][No]; pressing edits the message."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, InvalidToken, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from handlers.console import ConsoleChat, run_console
from handlers.local_chat import LocalChat
from handlers.local_transport import LocalChatApplication, local_application_builder
from tests.fakes.telegram_server import FakeTelegramServer

ROOT = Path(__file__).resolve().parents[1]
KEYBOARD = InlineKeyboardMarkup(
    [[InlineKeyboardButton("Yes", callback_data="ping:yes"),
      InlineKeyboardButton("No", callback_data="ping:no")]])


def add_ping_handlers(app: Application, seen_users: list[int]) -> None:  # type: ignore[type-arg]
    async def ping(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_user and update.message
        seen_users.append(update.effective_user.id)
        await update.message.reply_text("pong", reply_markup=KEYBOARD)

    async def chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query and query.data
        await query.answer()
        await query.edit_message_text(f"chose {query.data.split(':')[1]}")

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message
        await update.message.reply_text(f"echo: {update.message.text}")

    app.add_handler(CommandHandler("ping", ping))
    app.add_handler(CallbackQueryHandler(chosen, pattern=r"^ping:"))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))


async def start(app: Application) -> None:  # type: ignore[type-arg]
    await app.initialize()
    await app.start()
    await app.updater.start_polling(poll_interval=0, timeout=1)  # type: ignore[union-attr]


async def stop(app: Application) -> None:  # type: ignore[type-arg]
    await app.updater.stop()  # type: ignore[union-attr]  # updater first: it feeds the app
    await app.stop()
    await app.shutdown()


@pytest.fixture
async def local() -> AsyncIterator[tuple[LocalChat, Application, list[int]]]:  # type: ignore[type-arg]
    chat, seen = LocalChat(user_id=1001), []
    app = local_application_builder(chat).build()
    add_ping_handlers(app, seen)
    await start(app)
    yield chat, app, seen
    await stop(app)


# ----- (a) in process ----------------------------------------------------------------------
async def test_ping_then_press_yes(local: tuple[LocalChat, Application, list[int]]) -> None:  # type: ignore[type-arg]
    chat, _, seen = local
    assert await chat.ask("/ping") == ["pong"]
    assert chat.choices == ["Yes", "No"]
    assert chat.transcript[-1].buttons == ["Yes", "No"]
    assert await chat.choose(1) == ["chose yes"]
    assert chat.transcript[-1].kind == "edited"
    assert chat.choices == []  # the edit did not resend the keyboard, so Telegram drops it
    assert seen == [1001]
    with pytest.raises(LookupError, match="no inline keyboard"):
        await chat.press(1)


async def test_press_by_label_and_bad_button(
        local: tuple[LocalChat, Application, list[int]]) -> None:  # type: ignore[type-arg]
    chat, _, _ = local
    await chat.ask("/ping")
    with pytest.raises(LookupError, match=r"\[1\] Yes, \[2\] No"):
        await chat.press(3)
    with pytest.raises(LookupError):
        await chat.press("Maybe")
    assert await chat.choose("No") == ["chose no"]


async def test_other_user_reaches_handler_with_own_id(
        local: tuple[LocalChat, Application, list[int]]) -> None:  # type: ignore[type-arg]
    chat, _, seen = local
    assert await chat.ask("/ping", user_id=666) == ["pong"]
    assert seen == [666]
    assert chat.transcript[-1].chat_id == 666  # the reply went to that user's private chat


async def test_plain_text_and_commands_registered(
        local: tuple[LocalChat, Application, list[int]]) -> None:  # type: ignore[type-arg]
    chat, app, _ = local
    assert await chat.ask("hello there") == ["echo: hello there"]
    await app.bot.set_my_commands([("ping", "Ping the bot")])
    assert [c.command for c in await app.bot.get_my_commands()] == ["ping"]
    await app.bot.delete_my_commands()
    assert chat.commands == []


@pytest.mark.filterwarnings("ignore:.*retry_after:DeprecationWarning")  # raised inside PTB
async def test_telegram_errors(local: tuple[LocalChat, Application, list[int]]) -> None:  # type: ignore[type-arg]
    chat, app, _ = local
    await chat.ask("/ping")
    pong = chat.transcript[-1].message_id
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await app.bot.edit_message_text("pong", chat_id=1001, message_id=pong,
                                        reply_markup=KEYBOARD)
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await app.bot.edit_message_text("x", chat_id=1001, message_id=999)
    with pytest.raises(BadRequest, match="not supported by the local chat"):
        await app.bot.do_api_request("sendLocalThing", {"chat_id": 1001})
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await app.bot.send_message(424242, "hi")
    with pytest.raises(BadRequest, match="reserved"):
        await app.bot.send_message(1001, "P&L 1.5", parse_mode="MarkdownV2")
    chat.fail_next("sendMessage", retry_after=3)
    with pytest.raises(RetryAfter) as caught:
        await app.bot.send_message(1001, "flood")
    assert "Retry in 3" in str(caught.value)
    sent = await app.bot.send_message(1001, "<b>PnL</b> &amp; risk", parse_mode="HTML")
    assert sent.text == "PnL & risk"  # what the user sees, not the markup


async def test_get_updates_offset_and_long_poll() -> None:
    chat = LocalChat()
    first = await chat.say("a")
    await chat.say("b")
    _, body = await chat.call("getUpdates", {"offset": 0})
    assert [u["update_id"] for u in body["result"]] == [first, first + 1]
    _, body = await chat.call("getUpdates", {"offset": first + 1})  # confirms the first
    assert [u["message"]["text"] for u in body["result"]] == ["b"]
    poll = asyncio.create_task(chat.call("getUpdates", {"offset": first + 2, "timeout": 5}))
    await asyncio.sleep(0.01)
    assert not poll.done()
    await chat.say("c")
    _, body = await asyncio.wait_for(poll, 1)
    assert [u["message"]["text"] for u in body["result"]] == ["c"]
    _, body = await chat.call("getUpdates", {"offset": 0})
    assert [u["message"]["text"] for u in body["result"]] == ["c"]  # a, b stay confirmed


async def test_say_adds_bot_command_entity() -> None:
    chat = LocalChat()
    await chat.say("/close APT 25%")
    _, body = await chat.call("getUpdates", {})
    entity = body["result"][0]["message"]["entities"][0]
    assert entity == {"type": "bot_command", "offset": 0, "length": len("/close")}


# ----- (b) console -----------------------------------------------------------------------
async def test_console_presses_numbers_and_ends_at_eof(
        local: tuple[LocalChat, Application, list[int]]) -> None:  # type: ignore[type-arg]
    chat, _, _ = local
    out = io.StringIO()
    console = ConsoleChat(chat, io.StringIO("/ping\n1\n\n1\n"), out)
    await asyncio.wait_for(console.run(), 5)
    assert console.done.is_set()
    text = out.getvalue()
    assert "pong\n  [1] Yes   [2] No\n" in text
    assert "(edited) chose yes\n" in text
    assert "echo: 1\n" in text  # no keyboard left, so a bare number is plain text
    assert "> " not in text  # no prompt when stdin is not a terminal


async def test_run_console_owns_the_app_lifecycle() -> None:
    chat, seen = LocalChat(), []
    app = local_application_builder(chat).build()
    add_ping_handlers(app, seen)
    out = io.StringIO()
    await asyncio.wait_for(run_console(app, chat, io.StringIO("/ping\n2\n"), out), 5)
    assert "(edited) chose no" in out.getvalue()
    assert not app.running


def test_console_through_a_real_pipe() -> None:
    script = (
        "import asyncio\n"
        "from handlers.console import run_console\n"
        "from handlers.local_chat import LocalChat\n"
        "from handlers.local_transport import local_application_builder\n"
        "from tests.test_local_chat import add_ping_handlers\n"
        "chat = LocalChat()\n"
        "app = local_application_builder(chat).build()\n"
        "add_ping_handlers(app, [])\n"
        "asyncio.run(run_console(app, chat))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], input="/ping\n1\n", text=True,
                          capture_output=True, timeout=20, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    assert "[1] Yes" in done.stdout and "(edited) chose yes" in done.stdout


# ----- (c) real PTB over HTTP against the fake server ------------------------------------------
@pytest.fixture
async def http() -> AsyncIterator[tuple[FakeTelegramServer, Application, list[int]]]:  # type: ignore[type-arg]
    async with FakeTelegramServer() as server:
        seen: list[int] = []
        app = (ApplicationBuilder().token(server.token).base_url(server.base_url)
               .application_class(LocalChatApplication, {"chat": server.chat}).build())
        add_ping_handlers(app, seen)
        await start(app)
        yield server, app, seen
        await stop(app)


async def test_http_ping_and_press(
        http: tuple[FakeTelegramServer, Application, list[int]]) -> None:  # type: ignore[type-arg]
    server, _, seen = http
    chat = server.chat
    assert await chat.ask("/ping") == ["pong"]
    assert chat.choices == ["Yes", "No"]
    assert await chat.choose("Yes") == ["chose yes"]
    assert await chat.ask("/ping", user_id=666) == ["pong"]
    assert seen == [1001, 666]
    sends = [p for m, p in server.calls if m == "sendMessage"]
    assert sends[0]["chat_id"] == 1001 and sends[0]["text"] == "pong"  # form field decoded
    assert sends[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "ping:yes"
    assert any(m == "answerCallbackQuery" for m, _ in server.calls)


@pytest.mark.filterwarnings("ignore:.*retry_after:DeprecationWarning")  # raised inside PTB
async def test_http_photo_flood_and_bad_token(
        http: tuple[FakeTelegramServer, Application, list[int]]) -> None:  # type: ignore[type-arg]
    server, app, _ = http
    message = await app.bot.send_photo(1001, photo=b"\x89PNG fake", caption="42")
    assert message.photo and message.caption == "42"
    assert server.chat.transcript[-1].kind == "photo"
    upload = [p for m, p in server.calls if m == "sendPhoto"][0]["photo"]
    assert upload["size"] == len(b"\x89PNG fake")
    server.inject_retry_after("sendMessage", retry_after=2)
    with pytest.raises(RetryAfter):
        await app.bot.send_message(1001, "too fast")
    assert (await app.bot.send_message(1001, "123")).text == "123"  # stays a string
    bad = ApplicationBuilder().token("999:WRONG").base_url(server.base_url).build()
    with pytest.raises(InvalidToken):
        await bad.bot.get_me()
    await bad.bot.shutdown()
