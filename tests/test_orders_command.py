"""`/orders` end to end on the paper venue (issue 15): a close resting in limit batches is
listed with its ids and its action; [Cancel n] asks once more, then cancels it at the
venue, and the close's own report says what became of it. Buttons work once."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from bot.domain import OrderState
from tests.botkit import (
    FAST_FOLLOW,
    PAPER_STILL,
    USER,
    first_runs_done,
    make_config,
    quiet,
    running,
)

APT = "APT-USDT-SWAP"
OTHER = 1002


async def shown(chat, starts, mark=0, timeout=5.0):
    """The newest message the bot sent or edited since `mark` that starts so."""
    for _ in range(int(timeout / 0.02)):
        found = [e for e in chat.transcript[mark:]
                 if e.kind in ("sent", "edited") and e.text.startswith(starts)]
        if found:
            return found[-1]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no message starting {starts!r}: "
                         f"{[e.text for e in chat.transcript[mark:]]}")


async def test_a_resting_batch_is_listed_and_cancelled_and_its_close_reports_it(tmp_path):
    config = make_config(tmp_path, users=(USER, OTHER), paper=PAPER_STILL,
                         close={**FAST_FOLLOW, "gtt_seconds": 60, "batches": 1})
    quiet(config)
    async with running(config) as (app, chat):
        await first_runs_done(app)  # the watcher's alert is out of the way
        # a thin book: the close goes out as a limit batch, and it rests unfilled
        app.paper.exchange.market.set_book(APT, bids=[(D("5.200"), D("1")),
                                                      (D("4.000"), D("1000"))], asks=[])
        app.paper.exchange.faults.never_fill("sub1")
        await chat.ask("/close APT 20 sub1")
        await chat.press("Confirm")  # the close now follows its resting order
        [order] = await _resting(app)

        mark = len(chat.transcript)
        await chat.say("/orders")
        listed = await shown(chat, "📋", mark)
        assert listed.text == (
            "📋 The bot's resting orders (1):\n"
            f"1. sub1 APT-USDT-SWAP SELL (long) 20 at {order.price} · filled 0 · close #1\n"
            f"   {order.venue_id} / {order.client_id}")
        assert listed.buttons == ["Cancel 1"]

        await chat.press("Cancel 1", listed.message_id, user_id=OTHER)  # not theirs
        await chat.press("Cancel 1", listed.message_id)
        question = await shown(chat, "Cancel this resting order", mark)
        assert question.text == ("Cancel this resting order of sub1?\n"
                                 f"APT-USDT-SWAP SELL 20 at {order.price} ({order.client_id})")
        await chat.press("Confirm", question.message_id)

        done = await shown(chat, "✅ Cancelled", mark)
        assert done.text == f"✅ Cancelled {order.client_id}: canceled, filled 0 of 20"
        [at_venue] = app.paper.exchange.orders.values()
        assert at_venue.state is OrderState.CANCELED
        report = await shown(chat, "❌ Not closed APT-USDT-SWAP long on sub1", mark)
        assert "cancelled" in report.text
        assert [e.name for e in app.store.recent_events(20)
                if e.name == "order_cancelled"] == ["order_cancelled"]

        await chat.press("Cancel 1", listed.message_id)  # used once already
        await chat.settle()
        assert app.paper.exchange.orders[at_venue.venue_id].state is OrderState.CANCELED
        assert await chat.ask("/orders") == ["The bot has no resting orders."]
        assert await chat.ask("/orders nobody") == [
            "Unknown account: nobody. Accounts: main, sub1"]


async def _resting(app):
    for _ in range(250):
        resting = [o for o in app.paper.exchange.orders.values() if o.state is OrderState.LIVE]
        if resting and app.store.open_orders():  # at the venue, and journaled
            return resting
        await asyncio.sleep(0.02)
    raise AssertionError("the close placed no order")
