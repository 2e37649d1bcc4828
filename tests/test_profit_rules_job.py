"""The take-profit job on the paper venue: a scripted price path through every tier for a
long on one account and a short on another, with a restart in the middle."""

from __future__ import annotations

import contextlib
from decimal import Decimal as D

import pytest

from bot.domain import OrderSide, Side
from bot.venues.paper.demo import new_exchange
from tests.botkit import FAST_FOLLOW, PAPER_EMPTY, initialized, make_config, running
from tests.fakes.okx_accounts import CREDENTIALS, KEYS
from tests.fakes.okx_server import FakeOkxServer

APT = "APT-USDT-SWAP"


def rules_config(tmp_path, okx_url=None, tp="true", hedge="false"):
    return make_config(tmp_path, okx_url=okx_url, rules={"take_profit": tp, "hedge": hedge},
                       paper=PAPER_EMPTY, close=FAST_FOLLOW)


@pytest.fixture(params=["paper", "okx"])
def venue_kind(request):
    return request.param


@pytest.fixture
async def okx_exchange(venue_kind):
    """For the OKX runs: the engine behind a fake OKX server, shared by both bot runs."""
    if venue_kind == "paper":
        yield None
        return
    exchange = new_exchange()
    exchange.add_account("main", D("1000"))
    exchange.add_account("sub1", D("1000"))
    async with FakeOkxServer(exchange, KEYS, credentials=CREDENTIALS) as server:
        yield exchange, server.base_url


@contextlib.asynccontextmanager
async def bot(tmp_path, okx=None, **rules):
    config = rules_config(tmp_path, okx_url=okx[1] if okx else None, **rules)
    async with initialized(config) as (app, chat):  # the bot can send; the test runs the jobs
        app.exchange = okx[0] if okx else app.paper.exchange
        yield app, chat


async def step(app, mark):
    app.exchange.set_mark(APT, D(mark))
    for account in ("main", "sub1"):
        await app.jobs.run_now(f"take_profit:{account}")


def closes(app):
    return [(o.account, o.side, o.position_side, o.size, o.reduce_only)
            for o in app.exchange.orders.values()]


def sent(chat):
    return [e.text for e in chat.transcript if e.kind == "sent"]


def seed(app):
    ex = app.exchange
    ex.market.freeze()
    ex.seed_position("main", APT, Side.LONG, D("100"), D("5"), D("10"))  # +200% per USDT
    ex.seed_position("sub1", APT, Side.SHORT, D("100"), D("5"), D("10"))


async def test_a_price_path_through_every_tier_with_a_restart(tmp_path, okx_exchange):
    long_tiers = [("main", OrderSide.SELL, Side.LONG, D(n), True) for n in ("30", "35", "17")]
    short_tiers = [("sub1", OrderSide.BUY, Side.SHORT, D(n), True) for n in ("30", "35", "17")]
    async with bot(tmp_path, okx_exchange) as (app, chat):
        seed(app)
        await step(app, "5.12")  # long +24%: nothing
        assert closes(app) == []
        await step(app, "5.13")  # long +26%: tier 1
        await step(app, "5.14")  # still below tier 2: nothing more
        await step(app, "5.18")  # +36%: tier 2
        await step(app, "5.30")  # +60%: tier 3 (one tier a run, and this is the last)
        await step(app, "5.40")
        assert closes(app) == long_tiers
        await step(app, "4.82")  # short +36%: tier 1
        await step(app, "4.77")  # +46%: tier 2
        assert closes(app) == long_tiers + short_tiers[:2]
        messages = sent(chat)
        assert len(messages) == 5
        assert messages[0].startswith("🎯 Take-profit tier 1 (profit ≥ 25%: close 30%): "
                                      "APT-USDT-SWAP long on main\n"
                                      "Profit 26.00% · margin 50.00 USDT\n"
                                      "Size 100 ct (100 APT) → closed 30 ct (30 APT) at ")
        assert "left 70 ct (70 APT)" in messages[0]
        assert messages[3].startswith("🎯 Take-profit tier 1 (profit ≥ 35%: close 30%): "
                                      "APT-USDT-SWAP short on sub1\n"
                                      "Profit 36.00%")

    async with bot(tmp_path, okx_exchange) as (app, chat):  # the bot restarted mid-path
        await step(app, "4.77")  # nothing fires twice
        await step(app, "5.40")
        assert closes(app) == long_tiers + short_tiers[:2]
        await step(app, "4.72")  # +56%: tier 3
        assert closes(app) == long_tiers + short_tiers
        assert [p.size for p in await app.venues["sub1"].positions()] == [D("18")]
        assert sent(chat)[-1].startswith("🎯 Take-profit tier 3 (profit ≥ 55%: close 50%): "
                                         "APT-USDT-SWAP short on sub1")
        events = app.store.recent_events(20, name="tp_fired")
        assert len(events) == 6


async def test_a_crash_after_journaling_the_tier_never_closes_it_twice(tmp_path):
    async with bot(tmp_path) as (app, chat):
        seed(app)
        venue = app.venues["main"]
        place = venue.place_order

        async def killed(request):
            raise SystemExit("the process died here")

        venue.place_order = killed
        with pytest.raises(SystemExit):
            await step(app, "5.13")
        venue.place_order = place
    async with bot(tmp_path) as (app, chat):
        await step(app, "5.13")
        assert closes(app) == []  # tier 1 is recorded as fired: it does not fire again
        await step(app, "5.18")
        assert closes(app) == [("main", OrderSide.SELL, Side.LONG, D("50"), True)]


async def test_a_new_entry_starts_a_fresh_ladder(tmp_path):
    async with bot(tmp_path) as (app, chat):
        seed(app)
        await step(app, "5.13")
        ex = app.exchange
        ex.seed_position("main", APT, Side.LONG, D("30"), D("5.13"), D("10"))  # added to
        await step(app, "5.20")  # the new average entry is below 5.13: +… from tier 1 again
        main = [c for c in closes(app) if c[0] == "main"]
        assert [c[3] for c in main] == [D("30"), D("30")]  # tier 1 of the new ladder: 30%


async def test_observe_mode_records_and_notifies_but_sends_nothing(tmp_path):
    async with bot(tmp_path, tp="observe") as (app, chat):
        seed(app)
        await step(app, "5.13")
        await step(app, "5.13")
        assert closes(app) == []
        assert sent(chat) == ["👀 Observe: would close 30 ct (30 APT) of APT-USDT-SWAP long on "
                              "main, tier 1: 30% (profit 26.00%, margin 50.00 USDT)"]
        assert [e.name for e in app.store.recent_events(5, name="tp_would_fire")] == \
            ["tp_would_fire"]


async def test_hedge_closes_the_losing_side(tmp_path):
    async with bot(tmp_path, tp="false", hedge="true") as (app, chat):
        ex = app.exchange
        ex.market.freeze()
        ex.seed_position("main", APT, Side.LONG, D("100"), D("5"), D("10"))
        ex.seed_position("main", APT, Side.SHORT, D("100"), D("5"), D("10"))
        await step(app, "5.05")  # long +10%, short -10%: close the short to 1 USDT
        # keep size for 1 USDT at 5.05 and 10x: 1.98 -> 2 contracts
        assert closes(app) == [("main", OrderSide.BUY, Side.SHORT, D("98"), True)]
        [message] = sent(chat)
        assert message.startswith(
            "🛡 Hedge: APT-USDT-SWAP on main: the long is at 10.00%, the short at -10.00%\n"
            "Closed 98 ct (98 APT) of the losing short (98.00% of 100 ct (100 APT)) at ")
        await step(app, "5.05")  # the short now holds about 1 USDT: nothing more
        assert len(closes(app)) == 1


async def test_tp_command_shows_the_ladder_and_reset_restarts_it(tmp_path):
    config = rules_config(tmp_path)
    config.rules.take_profit.interval_seconds = 3600  # only the test runs the job
    async with running(config) as (app, chat):
        app.exchange = app.paper.exchange
        await chat.ask("/status")
        seed(app)
        await step(app, "5.13")
        said = "\n".join(await chat.ask("/tp apt"))
        assert "APT-USDT-SWAP long · profit 26.00% · margin 35.00 USDT\n" \
               "  ✅ 25%→30% · ▫️ 35%→50% · ▫️ 50%→50%\n" \
               "  next: tier 2 at 35.00% (now 26.00%)" in said
        assert "APT-USDT-SWAP short · profit -26.00%" in said
        [question] = await chat.ask("/tp reset APT long main")
        assert question.startswith("Reset the take-profit ladder of APT-USDT-SWAP long on main?")
        assert await chat.choose("Confirm") == [
            "The take-profit ladder of APT-USDT-SWAP long on main is reset."]
        assert "tier 1 fires on the next run" in "\n".join(await chat.ask("/tp APT"))
        await step(app, "5.13")
        assert [c[3] for c in closes(app)] == [D("30"), D("21")]  # tier 1 again, of 70
        assert (await chat.ask("/tp reset APT sideways")) == [
            "Usage: /tp [SYMBOL] | /tp reset SYMBOL long|short [account]"]
