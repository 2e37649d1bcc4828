"""A flood of strangers (issue 11, case 11), over HTTP against a local Bot API server with
the real rate limiter: the owner's command is answered within 2 s, strangers are answered
and recorded a bounded number of times, and a command that waited in line behind the
flood is not taken for one sent while the bot was offline."""

from __future__ import annotations

import asyncio

from bot.ops.control import STRANGER_ANSWERS_PER_MINUTE
from tests.botkit import USER, make_config, running
from tests.fakes.telegram_server import FakeTelegramServer

FLOOD = 3000
STRANGERS = 1000  # each says something three times


async def test_the_owner_is_answered_within_two_seconds_of_a_stranger_flood(tmp_path):
    async with FakeTelegramServer() as server:
        telegram = {"token": server.token, "base_url": server.base_url}
        async with running(make_config(tmp_path, telegram=telegram), user_id=None) as (app, _):
            chat, loop = server.chat, asyncio.get_running_loop()
            for n in range(FLOOD):
                await chat.say("/positions", user_id=10_000 + n % STRANGERS)
            asked = loop.time()
            await chat.say("/status")
            while not any(e.chat_id == USER and e.kind == "sent" and "Status" in e.text
                          for e in chat.transcript):
                assert loop.time() - asked < 2, "the owner waited behind the strangers"
                await asyncio.sleep(0.02)
            await asyncio.sleep(1)  # let the flood drain: nothing more may come of it
            refusals = [e for e in chat.transcript if e.chat_id != USER and e.kind == "sent"]
            assert 0 < len(refusals) <= STRANGER_ANSWERS_PER_MINUTE
            recorded = app.store.recent_events(FLOOD, name="unauthorized")
            assert len(recorded) == len(refusals)
            assert not app.store.recent_events(10, name="stale_update_dropped")
