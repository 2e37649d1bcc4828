"""Hostile and odd input from the Telegram side (issue 11, cases 7-9), end to end through
the real Application: forged callback data, edited commands, and texts past Telegram's
limits. None of it may place an order, use up a confirmation or fail a send."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from db.records import ConfirmationState
from handlers import buttons
from handlers.local_chat_format import buttons_of
from handlers.messages import text
from tests.botkit import FAST_FOLLOW, PAPER_STILL, USER, initialized, make_config, running
from tests.fakes.telegram_server import FakeTelegramServer

OTHER = 1002
APT = "APT-USDT-SWAP"
INVALID = text("en", "button_invalid")
EDITED = text("en", "edit_not_executed")
STALE = (r"A command sent while the bot was offline was not executed: {said} \(360[01] s ago\)\."
         r" Send it again if you still want it\.")


class Clock:
    def __init__(self) -> None:
        self.shift = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift


def bot(tmp_path, clock=None):
    config = make_config(tmp_path, users=(USER, OTHER), rules={"watcher": "off"},
                         paper=PAPER_STILL, close=FAST_FOLLOW)
    return running(config, clock=clock)


def orders(app):
    return list(app.paper.exchange.orders.values())


def token(chat) -> str:
    """The confirmation token behind the latest keyboard."""
    message = chat.messages[chat.transcript[-1].message_id]
    return str(buttons_of(message)[0]["callback_data"]).split(":")[1]


def notices(chat, mark: int) -> list[str]:
    return [e.text for e in chat.transcript[mark:] if e.kind == "answer"]


def said(chat, mark: int) -> list[str]:
    return [e.text for e in chat.transcript[mark:] if e.kind in ("sent", "edited")]


async def forge(chat, data, user_id=None) -> tuple[list[str], list[str]]:
    """Press with `data` on the latest keyboard: (the notices, the messages) it got."""
    mark = len(chat.transcript)
    await chat.press_data(data, user_id=user_id)
    await chat.settle()
    return notices(chat, mark), said(chat, mark)


# -- case 9: callback data parsed strictly, its kind checked before the token is used --


def test_callback_data_is_parsed_strictly():
    parse_data, t = buttons.parse_data, "AbC-_0123456789xy"
    assert parse_data(f"cf:{t}") == ("cf", t, None)
    assert parse_data(f"cx:{t}") == ("cx", t, None)
    assert parse_data(f"cs:{t}:short") == ("cs", t, "short")
    assert parse_data(f"wa:{t}:skip") == ("wa", t, "skip")
    for bad in (None, "", ":", "cf", "cf:", f"cf:{t}:", f"cf:{t}:x", f"cx:{t}:long", f"cs:{t}",
                f"cs:{t}:", f"cs:{t}:up", f"cs:{t}:long:x", f"wa:{t}:close", f"zz:{t}",
                f"CF:{t}", f"cf:{t} ", "cf:a.b", "cf:" + "A" * 62, 42):
        assert parse_data(bad) is None, bad


@pytest.mark.parametrize("data", [
    None, "", "cf", "cf:", "cx:", "cs:{t}", "cs:{t}:", "cs:{t}:sideways", "cf:{t}:x",
    "cf:{t}:", "cx:{t}:long", "wa:{t}:", "zz:{t}", "cf:{t}" + "x" * 60, "cf:{t}:" + "🙂" * 40,
])
async def test_malformed_callback_data_is_answered_and_does_nothing(tmp_path, data):
    async with bot(tmp_path) as (app, chat):
        await chat.ask("/close APT 10 sub1")
        t = token(chat)
        got, messages = await forge(chat, None if data is None else data.format(t=t))
        assert (got, messages, orders(app)) == ([INVALID], [], [])
        assert app.store.get_confirmation(t).state is ConfirmationState.PENDING
        await chat.choose("Confirm")  # the real button still works, once
        assert len(orders(app)) == 1


@pytest.mark.parametrize("data", ["cs:{t}:long", "cs:{t}:short", "wa:{t}:maintain",
                                  "wa:{t}:skip"])
async def test_a_close_token_under_another_button_kind_is_refused_untouched(tmp_path, data):
    async with bot(tmp_path) as (app, chat):
        await chat.ask("/close APT 10 sub1")
        t = token(chat)
        for user in (USER, OTHER):  # the owner, and another user: neither learns anything
            got, messages = await forge(chat, data.format(t=t), user_id=user)
            assert (got, messages, orders(app)) == ([INVALID], [], [])
        assert app.store.get_confirmation(t).state is ConfirmationState.PENDING
        await chat.choose("Confirm")
        [order] = orders(app)
        assert (order.account, order.symbol, str(order.size)) == ("sub1", APT, "10")


@pytest.mark.parametrize("data", ["cf:{t}", "wa:{t}:supermaintain"])
async def test_a_side_prompt_token_under_another_button_kind_is_refused(tmp_path, data):
    async with bot(tmp_path) as (app, chat):
        await chat.ask("/close APT 1 main")  # both sides held: [long] [short] [Cancel]
        t = token(chat)
        got, messages = await forge(chat, data.format(t=t))
        assert (got, messages, orders(app)) == ([INVALID], [], [])
        assert app.store.get_confirmation(t).state is ConfirmationState.PENDING
        [confirm] = await chat.choose("short")
        assert confirm.startswith("Close APT-USDT-SWAP short on main?")


async def test_a_watcher_token_answers_only_the_watcher_buttons(tmp_path):
    async with bot(tmp_path) as (app, chat):
        await chat.ask("/close APT 10 sub1")
        t = app.store.create_confirmation(USER, USER, "watcher", {
            "account": "main", "symbol": APT, "side": "long"})
        for data in (f"cf:{t}", f"cs:{t}:long", f"wa:{t}:later"):
            got, messages = await forge(chat, data)
            assert (got, messages, orders(app)) == ([INVALID], [], [])
        assert app.store.get_confirmation(t).state is ConfirmationState.PENDING
        _, messages = await forge(chat, f"wa:{t}:skip")
        assert messages == ["Skipped APT-USDT-SWAP long on main."]


# -- case 7: only a new message is a command -----------------------------------------


@pytest.mark.parametrize("command", ["/pause", "/lang zh", "/close APT 10 sub1"])
async def test_an_edited_command_is_not_executed(tmp_path, command):
    async with bot(tmp_path) as (app, chat):
        mark = len(chat.transcript)
        await chat.ask("/help")
        message_id = chat.transcript[mark].message_id
        mark = len(chat.transcript)
        await chat.edit(message_id, command)
        await chat.settle()
        assert said(chat, mark) == [EDITED]
        assert chat.choices == [] and orders(app) == []  # no confirmation to press
        assert not app.pause.paused
        assert await chat.ask("/pause") == ["⏸ Paused: every automatic action is stopped. "
                                            "Send /resume to restart."]  # still English


async def test_posts_in_business_chats_and_channels_are_no_commands(tmp_path):
    async with bot(tmp_path) as (app, chat):
        owner, when = chat.user, int(time.time())
        command = {"text": "/pause", "entities": [
            {"type": "bot_command", "offset": 0, "length": 6}]}
        friend = {"id": 5005, "type": "private", "first_name": "Friend"}
        channel = {"id": -100777, "type": "channel", "title": "News"}
        mark, calls = len(chat.transcript), len(chat.calls)
        # The owner's business account talking to a friend, through the bot: not to the bot.
        await chat.inject({"business_message": {
            "message_id": 900, "date": when, "chat": friend, "from": owner,
            "business_connection_id": "conn", **command}})
        await chat.inject({"edited_business_message": {
            "message_id": 900, "date": when, "edit_date": when, "chat": friend, "from": owner,
            "business_connection_id": "conn", **command}})
        await chat.inject({"channel_post": {
            "message_id": 901, "date": when, "chat": channel, "sender_chat": channel,
            **command}})
        await chat.settle()
        assert said(chat, mark) == [] and not app.pause.paused
        assert [m for m, _ in chat.calls[calls:] if m != "getUpdates"] == []  # nobody answered


async def test_an_edit_made_while_the_bot_was_down_is_dropped_as_stale(tmp_path):
    clock = Clock()
    clock.shift = timedelta(hours=1)  # the bot starts an hour after what it is sent here
    async with bot(tmp_path, clock) as (app, chat):
        mark = len(chat.transcript)
        await chat.ask("/help")
        message_id = chat.transcript[mark].message_id
        mark = len(chat.transcript)
        await chat.edit(message_id, "/pause")
        await chat.settle()
        [notice] = said(chat, mark)
        assert re.fullmatch(STALE.format(said=re.escape("/pause")), notice)
        assert not app.pause.paused


# -- case 8: every outgoing text fits Telegram's limits ------------------------------


async def test_the_stale_notice_of_a_long_command_fits(tmp_path):
    clock = Clock()
    clock.shift = timedelta(hours=1)  # the bot starts an hour after the command was sent
    async with bot(tmp_path, clock) as (app, chat):
        command = "/pause " + "x" * 4089  # as long as Telegram lets a message be
        [notice] = await chat.ask(command)
        assert re.fullmatch(STALE.format(said=re.escape(command[:99] + "…")), notice)
        assert not app.pause.paused


async def test_every_text_the_bot_sends_fits_telegram_limits(tmp_path):
    async with initialized(make_config(tmp_path, paper=PAPER_STILL)) as (app, chat):
        bot_api = app.application.bot
        sent = await bot_api.send_message(USER, "x" * 5000)
        assert sent.text == "x" * 4095 + "…"
        edited = await bot_api.edit_message_text("🙂" * 3000, USER, sent.message_id)
        assert edited.text == "🙂" * 2047 + "…"  # Telegram counts UTF-16 code units
        photo = await bot_api.send_photo(USER, "file-id", caption="c" * 2000)
        assert photo.caption == "c" * 1023 + "…"
        await chat.press_data("cf:anything", message_id=sent.message_id)  # an open query
        assert await bot_api.answer_callback_query("1", "n" * 500, show_alert=True)
        assert chat.transcript[-1].text == "n" * 199 + "…"
        assert await bot_api.send_message(USER, "short") and chat.transcript[-1].text == "short"


async def test_texts_fit_over_the_bot_api_too(tmp_path):
    async with FakeTelegramServer() as server:
        telegram = {"token": server.token, "base_url": server.base_url}
        async with running(make_config(tmp_path, telegram=telegram), user_id=None) as (app, _):
            sent = await app.application.bot.send_message(USER, "x" * 5000)
            assert sent.text == "x" * 4095 + "…"
