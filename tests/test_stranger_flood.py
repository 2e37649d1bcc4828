"""A flood of strangers (issue 11, case 11), over HTTP against a local Bot API server with
the real rate limiter: the owner's command is answered within 2 s, strangers are answered
and recorded a bounded number of times, and a command that waited in line behind the
flood is not taken for one sent while the bot was offline."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from bot.ops.control import STRANGER_ANSWERS_PER_MINUTE
from handlers.gate import quiet_strangers
from tests.botkit import USER, make_config, running
from tests.fakes.telegram_server import FakeTelegramServer
from tests.opskit import make_rig

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


async def test_strangers_not_to_be_answered_are_dropped_before_they_are_read(store):
    """The raw batch as Telegram sends it: the owner's update and the strangers' to be
    answered stay, in order; the rest are dropped unread and counted; the last update's
    id stays (blank), so the next poll goes on after it."""
    rig = make_rig(store)
    owner = 42
    read = quiet_strangers(SimpleNamespace(
        config=SimpleNamespace(telegram=SimpleNamespace(allowed_user_ids=[owner])),
        ops=rig.ops))

    def said(update_id, user_id, kind="message"):
        return {"update_id": update_id, kind: {"from": {"id": user_id}, "text": "/positions"}}

    await rig.ops.control.refused(7, None, "/positions")  # stranger 7 was told already
    batch = [said(1, 7), said(2, 8), said(3, owner), said(4, 7, "callback_query"),
             said(5, 7, "edited_message")]

    kept = read(batch)

    assert [u["update_id"] for u in kept] == [2, 3, 5] and kept[-1] == {"update_id": 5}
    assert kept[:2] == batch[1:3]  # untouched: the gate reads and answers them
    assert rig.ops.control._unanswered == 3
