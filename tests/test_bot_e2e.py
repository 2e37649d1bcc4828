"""The whole bot, end to end: the production handlers, jobs, database and paper venue,
driven through Telegram — in process (the console chat's transport) and over HTTP
against a local fake Bot API server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.app import BotApp
from handlers.local_chat import LocalChat
from tests.botkit import USER, make_config, running
from tests.fakes.telegram_server import FakeTelegramServer

STRANGER = 666


def joined(texts: list[str]) -> str:
    return "\n".join(texts)


async def test_commands_through_the_local_transport(tmp_path):
    async with running(make_config(tmp_path)) as (app, chat):
        said = joined(await chat.ask("/positions"))
        # the demo portfolio of both paper accounts, with size, margin and profit rate
        assert "Positions — main (paper)" in said
        assert "Positions — sub1 (paper)" in said
        assert "APT-USDT-SWAP long 60 ct (60 APT) · margin 31.00 USDT" in said
        assert "BCH-USDT-SWAP short 1.1 ct (0.11 BCH) · margin 5.50 USDT" in said
        assert said.count("profit ") == 14

        said = joined(await chat.ask("/positions sub1"))
        assert "sub1" in said and "main (paper)" not in said
        said = joined(await chat.ask("/positions nosuch"))
        assert said == "Unknown account: nosuch. Accounts: main, sub1"

        refused = await chat.ask("/positions", user_id=STRANGER)
        assert refused == ["Sorry, you are not allowed to use this bot."]
        events = app.store.recent_events(name="unauthorized")
        assert [e.data["user_id"] for e in events] == [STRANGER]

        assert await chat.ask("/pause") == [
            "⏸ Paused: every automatic action is stopped. Send /resume to restart."]
        status = joined(await chat.ask("/status"))
        assert "⏸ Paused (automatic actions stopped)" in status
        assert "✅ main (paper) reachable" in status
        assert "position_log:main: paused" in status
        assert "position_log:sub1: paused" in status
        assert "paper_market: idle" in status  # the simulated market keeps moving
        assert app.store.is_paused()

        await chat.ask("/resume")
        assert "position_log:main: paused" not in joined(await chat.ask("/status"))


async def test_pause_survives_a_restart_and_skips_job_runs(tmp_path):
    async with running(make_config(tmp_path)) as (_, chat):
        await chat.ask("/pause")
    app = BotApp(make_config(tmp_path), chat=LocalChat(user_id=USER))
    assert app.pause.paused
    await app.jobs.run_now("position_log:main")
    status = {s.name: s for s in app.jobs.statuses()}["position_log:main"]
    assert (status.runs, status.paused) == (0, True)
    await app.close()


async def test_commands_sent_while_down_are_not_executed(tmp_path):
    def late():
        return datetime.now(UTC) + timedelta(seconds=120)

    async with running(make_config(tmp_path), clock=late) as (app, chat):
        said = joined(await chat.ask("/pause"))
        assert said.startswith("A command sent while the bot was offline was not executed: "
                               "/pause")
        assert not app.pause.paused


async def test_unknown_commands_and_bad_arguments(tmp_path):
    async with running(make_config(tmp_path)) as (_, chat):
        assert await chat.ask("/frobnicate now") == [
            "Unknown command: /frobnicate now\nSend /help for every command."]
        assert await chat.ask("/positon") == [  # a typo: the nearest command is offered
            "Unknown command: /positon. Did you mean /positions?\nSend /help for every command."]
        assert await chat.ask("/tp BTC") == ["No BTC position (accounts: main, sub1)"]
        assert await chat.ask("/lang fr") == ["Usage: /lang zh|en"]
        assert await chat.ask("/positions a b") == ["Usage: /positions [account]"]
        assert await chat.ask("/lang zh") == ["语言已切换为中文。"]
        assert "持仓" in joined(await chat.ask("/positions main"))


async def _answer(chat: LocalChat, text: str, *, user_id: int | None = None,
                  quiet: float = 0.3, timeout: float = 10) -> list[str]:
    """Over HTTP the app is a plain Application: wait until the bot has answered and then
    stayed quiet for a moment."""
    mark = len(chat.transcript)
    await chat.say(text, user_id)
    loop = asyncio.get_running_loop()
    deadline, seen, last_change = loop.time() + timeout, mark + 1, loop.time()
    while loop.time() < deadline:
        await asyncio.sleep(0.05)
        if len(chat.transcript) != seen:
            seen, last_change = len(chat.transcript), loop.time()
        elif seen > mark + 1 and loop.time() - last_change > quiet:
            break
    return [e.text for e in chat.transcript[mark:] if e.kind in ("sent", "edited")]


async def test_commands_over_http_against_a_fake_bot_api(tmp_path):
    async with FakeTelegramServer() as server:
        telegram = {"token": server.token, "base_url": server.base_url}
        async with running(make_config(tmp_path, telegram=telegram), user_id=None):
            said = joined(await _answer(server.chat, "/positions"))
            assert "APT-USDT-SWAP long 60 ct (60 APT) · margin 31.00 USDT" in said
            refused = await _answer(server.chat, "/status", user_id=STRANGER)
            assert refused == ["Sorry, you are not allowed to use this bot."]
            await _answer(server.chat, "/pause")
            status = joined(await _answer(server.chat, "/status"))
            assert "position_log:sub1: paused" in status
        methods = [method for method, _ in server.calls]
        assert "setMyCommands" in methods and "getUpdates" in methods
        commands = next(p for m, p in server.calls if m == "setMyCommands")["commands"]
        assert [c["command"] for c in commands][:4] == ["start", "help", "status", "positions"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_message_tables_have_the_same_keys(lang):
    from handlers import messages

    assert set(messages.TEXTS[lang]) == set(messages.TEXTS["en"])
    assert set(messages.COMMANDS[lang]) == set(messages.COMMANDS["en"])


async def test_a_failing_job_alerts_once_per_problem(tmp_path):
    from bot.venues.base import VenueUnavailable

    async with running(make_config(tmp_path)) as (app, chat):
        await chat.ask("/status")

        async def down():
            raise VenueUnavailable("502 Bad Gateway", code="50026", venue="paper")

        app.venues["main"].positions = down
        for _ in range(3):
            await app.jobs.run_now("position_log:main")
        await asyncio.sleep(0.1)
        alerts = [e.text for e in chat.transcript if e.text.startswith("⚠️ Job")]
        assert alerts == ["⚠️ Job position_log:main failed: VenueUnavailable: paper 50026 "
                          "502 Bad Gateway (the same failure is not alerted again)"]
        status = joined(await chat.ask("/status"))
        assert "last error: VenueUnavailable: paper 50026 502 Bad Gateway" in status
