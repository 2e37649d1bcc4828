"""Alerts never storm, seen from the chat: a rule's close that keeps failing for the same
reason is told once, and once more when it goes through, also across a restart; an
observe-mode decision that stays the same is told once; a job failing every run is told
once and once when it clears; the bot says when it starts and stops."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal as D

from bot.domain import OrderSide, Side
from tests.botkit import FAST_FOLLOW, PAPER_EMPTY, initialized, make_config, quiet, running

APT = "APT-USDT-SWAP"
TIER_FAILED = "❌ Take-profit tier 1 not executed: APT-USDT-SWAP long on main: "


@contextlib.asynccontextmanager
async def bot(tmp_path, tp="true", hedge="false"):
    config = make_config(tmp_path, rules={"take_profit": tp, "hedge": hedge},
                         paper=PAPER_EMPTY, close=FAST_FOLLOW)
    async with initialized(config) as (app, chat):  # the test runs the jobs
        yield app, chat, app.paper.exchange


def sent(chat) -> list[str]:
    return [e.text for e in chat.transcript if e.kind == "sent"]


def closes(exchange):
    return [(o.account, o.side, o.position_side, o.size, o.reduce_only)
            for o in exchange.orders.values() if o.state.value == "filled"]


async def run_rules(app, times: int) -> None:
    for _ in range(times):
        await app.jobs.run_now("take_profit:main")


async def test_a_close_rejected_ten_runs_alerts_once_and_once_resolved_across_a_restart(
        tmp_path):
    async with bot(tmp_path) as (app, chat, exchange):
        exchange.market.freeze()
        exchange.seed_position("main", APT, Side.LONG, D("100"), D("5"), D("10"))
        exchange.set_mark(APT, D("5.13"))  # +26%: tier 1 is due every run
        exchange.faults.reject_orders("51008", times=None, account="main")
        await run_rules(app, 5)
        assert [t for t in sent(chat) if t.startswith(TIER_FAILED)] == [
            TIER_FAILED + "paper 51008 Order failed. Insufficient USDT margin in account"]
        assert len(sent(chat)) == 1
    async with bot(tmp_path) as (app, chat, exchange):  # a restart: still failing
        exchange.market.freeze()
        exchange.set_mark(APT, D("5.13"))
        exchange.faults.reject_orders("51008", times=None, account="main")
        await run_rules(app, 5)
        assert sent(chat) == []  # told before the restart: not again
        # every one of the ten runs tried and is on record
        assert len(app.store.recent_events(50, name="tp_failed")) == 10
        exchange.faults.clear()
        await run_rules(app, 1)
        assert closes(exchange) == [("main", OrderSide.SELL, Side.LONG, D(30), True)]
        said = sent(chat)
        [resolved] = [t for t in said if t.startswith("✅ Resolved")]
        assert resolved.startswith("✅ Resolved: take-profit closes of APT-USDT-SWAP long on "
                                   "main go through again (was: 51008, 10 failed runs since ")
        assert sum(t.startswith("🎯 Take-profit tier 1") for t in said) == 1
        await run_rules(app, 3)  # nothing more to say
        assert len(sent(chat)) == 2


async def test_a_new_reason_is_told_again(tmp_path):
    async with bot(tmp_path) as (app, chat, exchange):
        exchange.market.freeze()
        exchange.seed_position("main", APT, Side.LONG, D("100"), D("5"), D("10"))
        exchange.set_mark(APT, D("5.13"))
        exchange.faults.reject_orders("51008", times=2, account="main")
        await run_rules(app, 2)
        exchange.faults.reject_orders("51020", times=2, account="main")
        await run_rules(app, 2)
        failed = [t for t in sent(chat) if t.startswith(TIER_FAILED)]
        assert [t.removeprefix(TIER_FAILED).split()[1] for t in failed] == ["51008", "51020"]


async def test_an_observe_hedge_that_stays_the_same_is_told_once(tmp_path):
    async with bot(tmp_path, tp="false", hedge="observe") as (app, chat, exchange):
        exchange.market.freeze()
        exchange.seed_position("main", APT, Side.LONG, D("100"), D("5"), D("10"))
        exchange.seed_position("main", APT, Side.SHORT, D("100"), D("5"), D("10"))
        exchange.set_mark(APT, D("5.05"))  # long +10%, short -10%: would close 98 of the short
        await run_rules(app, 10)
        assert sent(chat) == [
            "👀 Observe: would close 98 ct (98 APT) of APT-USDT-SWAP short on main (98.00%), "
            "keeping 2 ct (2 APT): long 10.00%, short -10.00%"]
        assert exchange.orders == {}
        assert len(app.store.recent_events(50, name="hedge_would_close")) == 1
        exchange.set_mark(APT, D("5"))  # both flat: the decision goes away…
        await run_rules(app, 1)
        exchange.set_mark(APT, D("5.05"))  # …and when it comes back it is told again
        await run_rules(app, 1)
        assert len(sent(chat)) == 2


async def test_a_job_failing_every_run_is_told_once_and_when_it_clears(tmp_path):
    from bot.venues.base import VenueUnavailable

    async with bot(tmp_path, tp="false") as (app, chat, exchange):
        venue = app.venues["main"]
        positions = venue.positions

        async def down():
            raise VenueUnavailable("502 Bad Gateway", code="50026", venue="paper")

        venue.positions = down
        for _ in range(5):
            await app.jobs.run_now("position_log:main")
        venue.positions = positions
        for _ in range(4):  # resolved after three clean runs in a row, and only once
            await app.jobs.run_now("position_log:main")
        said = sent(chat)
        assert said[0] == ("⚠️ Job position_log:main failed: VenueUnavailable: paper 50026 "
                           "502 Bad Gateway (the same failure is not alerted again)")
        assert said[1].startswith("✅ Resolved: job position_log:main runs again (was: "
                                  "VenueUnavailable: paper 50026, 5 failed runs since ")
        assert len(said) == 2


async def test_a_job_failing_every_other_run_is_told_once(tmp_path):
    from bot.venues.base import VenueUnavailable

    async with bot(tmp_path, tp="false") as (app, chat, exchange):
        venue = app.venues["main"]
        positions, runs = venue.positions, []

        async def flaky():  # every other read times out, each with its own request id
            runs.append(1)
            if len(runs) % 2:
                raise VenueUnavailable(f"timeout (request {len(runs)})", code="50004",
                                       venue="paper")
            return await positions()

        venue.positions = flaky
        for _ in range(10):
            await app.jobs.run_now("position_log:main")
        assert sent(chat) == ["⚠️ Job position_log:main failed: VenueUnavailable: paper 50004 "
                              "timeout (request 1) (the same failure is not alerted again)"]


async def test_start_and_stop_are_told(tmp_path):
    config = make_config(tmp_path, rules={"take_profit": "observe", "hedge": "true",
                                          "correction": "on"},
                         paper=PAPER_EMPTY, close=FAST_FOLLOW)
    async with running(config) as (app, chat):
        started = sent(chat)
    assert started == ["🟢 Bot started (paper-trading demo)\n"
                       "• main (paper, main): take-profit observe · hedge on · correction on"
                       " · watcher ask\n"
                       "• sub1 (paper, sub): take-profit observe · hedge on · correction on"
                       " · watcher ask\n"
                       "Take-profit ladder long: 25%→30% · 35%→50% · 50%→50%\n"
                       "Take-profit ladder short: 35%→30% · 45%→50% · 55%→50%\n"
                       "Intervals: take-profit/hedge 10 s, watcher 10 s, correction 300 s"]
    assert sent(chat)[-1] == "🔴 Bot stopped cleanly."
    assert [e.name for e in app.store.recent_events(2)] == ["bot_stopped", "bot_started"]


async def test_a_secret_in_an_error_is_masked_in_the_alert_and_the_record(tmp_path):
    """An exchange's error text repeating a configured secret (here the bot token) reaches
    neither the chat nor the events table."""
    from bot.venues.base import AuthenticationFailed

    token = "123456:SECRET-canary-token"
    config = make_config(tmp_path, rules={"take_profit": "false", "hedge": "false"},
                         paper=PAPER_EMPTY, telegram={"token": token})
    async with initialized(config) as (app, chat):
        async def rejected():
            raise AuthenticationFailed(f"Invalid key {token}", code="50111", venue="paper")

        app.venues["main"].positions = rejected
        await app.jobs.run_now("position_log:main")
        [alert] = sent(chat)
        assert "SECRET-canary" not in alert and "***" in alert
        [event] = app.store.recent_events(1, name="job_failed")
        assert "SECRET-canary" not in event.message and "***" in event.message


async def test_a_job_that_falls_behind_is_counted_shown_and_told_once(tmp_path):
    """Issue 16: a skipped run was only a log line. A job whose run takes longer than its
    interval: its skipped and late runs are counted, /status shows them, the alert chats
    hear of it once per episode, and once when it keeps time again."""
    slow = {"seconds": 1.0}

    async def work():
        await asyncio.sleep(slow["seconds"])

    config = quiet(make_config(tmp_path, paper=PAPER_EMPTY))
    async with running(config, prepare=lambda app: app.jobs.add("slow", 0.3, work)) as (
            app, chat):
        await asyncio.sleep(3)  # runs of 1 s every 0.3 s
        slow["seconds"] = 0
        await asyncio.sleep(2.5)  # on time again
        [status] = [s for s in app.jobs.statuses() if s.name == "slow"]
        told = [e.text for e in chat.transcript if e.kind == "sent" and "slow" in e.text]
        shown = "\n".join(await chat.ask("/status"))
        recorded = app.store.recent_events(50, name="job_behind")

    assert status.skipped >= 3 and status.late >= 1
    assert told[0].startswith("⏱ Job slow falls behind its interval (every 0.3 s): a run ")
    assert told[1].startswith("✅ Resolved: job slow keeps time again (behind since ")
    # once per episode, however many runs it missed (a loaded machine may start another)
    episodes = [t for t in told if t.startswith("⏱")]
    assert len(episodes) == len(recorded) < status.skipped + status.late
    assert "slow: idle, last run " in shown
    assert f", skipped {status.skipped}, late {status.late}" in shown
