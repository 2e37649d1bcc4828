"""`/maintain` and `/supermaintain` end to end, on the paper venue and on OKX accounts
through the fake OKX server; crashes at every step boundary; a failed step and [Retry]."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal as D

import pytest

from bot.domain import OrderSide, Side
from bot.venues.okx.codes import okx_error
from handlers.messages import fmt_fee, fmt_signed_usdt
from tests.botkit import FAST_FOLLOW, PAPER_EMPTY, make_config, running

APT = "APT-USDT-SWAP"
BTC = "BTC-USDT-SWAP"


def refresh(exchange):
    """Fresh balances, the marks held still, and one position on each account."""
    exchange.market.freeze()
    for name, cash in (("main", D("2000")), ("sub1", D("330"))):
        if name in exchange.accounts:
            exchange.accounts[name].cash = cash
        else:
            exchange.add_account(name, cash)
    exchange.seed_position("sub1", APT, Side.LONG, D("60"), D("5"), D("10"))  # 30 USDT
    exchange.seed_position("main", BTC, Side.SHORT, D("0.05"), D("95000"), D("10"))


@contextlib.asynccontextmanager
async def bot(tmp_path, okx=None, fresh=True, watcher="off", *, database_url=None):
    """On an SQLite file in `tmp_path`, or `database_url` (the restart tests run on
    PostgreSQL too: tests/conftest.py)."""
    config = make_config(tmp_path, okx_url=okx[1] if okx else None, database_url=database_url,
                         rules={"watcher": watcher}, paper=PAPER_EMPTY, close=FAST_FOLLOW)

    def exchange_of(app):
        return okx[0] if okx else app.paper.exchange

    def prepare(app):
        if fresh:
            refresh(exchange_of(app))

    async with running(config, prepare=prepare) as (app, chat):
        await chat.ask("/status")
        yield app, chat, exchange_of(app)


def orders(exchange):
    return [(o.account, o.side, o.position_side, o.size, o.reduce_only)
            for o in exchange.orders.values()]


async def test_normal_maintenance_closes_first_then_opens_ten_times_then_keeps_eight(
        tmp_path, venue_kind):
    async with bot(tmp_path, venue_kind) as (app, chat, exchange):
        exchange.set_mark(APT, D("5"))
        [plan] = await chat.ask("/maintain apt sub1")
        assert plan.startswith(
            "🔧 Maintain APT-USDT-SWAP long on sub1 — #1\n"
            "1. close the old 60 ct (60 APT) (market, reduce-only)\n"
            "2. open 600 ct (600 APT) (market) · margin ≈ 300.00 USDT\n"
            "3. close 552 ct (552 APT) (reduce-only) · keeps 48 ct (48 APT)\n")
        # 330 cash - 30 in the position: 300 free, less than step 2 needs with fees; the
        # close gives 30 back first (the seed's 51008 situation)
        said = await chat.choose("Confirm", timeout=20)
        assert orders(exchange) == [("sub1", OrderSide.SELL, Side.LONG, D(60), True),
                                    ("sub1", OrderSide.BUY, Side.LONG, D(600), False),
                                    ("sub1", OrderSide.SELL, Side.LONG, D(552), True)]
        fills = exchange.account_fills("sub1")
        report = said[-1]
        assert report.startswith("🔧 Maintenance of APT-USDT-SWAP long on sub1, was 60 ct")
        fees, pnl = sum(f.fee for f in fills), sum(f.realized_pnl for f in fills)
        assert (f"PnL {fmt_signed_usdt(pnl)} · fees {fmt_fee(fees)} · "
                f"net {fmt_signed_usdt(pnl - fees)}") in report
        assert report.endswith("left 48 ct (48 APT) · maintenance count 1\n"
                               "Before: 60 ct (60 APT) · margin 30.00 USDT · profit 0.00%\n"
                               "After: 48 ct (48 APT) · margin 24.00 USDT · profit -0.20%")
        assert [p.size for p in await app.venues["sub1"].positions()] == [D(48)]


async def test_super_maintenance_with_real_btc_contract_specs(tmp_path, venue_kind):
    async with bot(tmp_path, venue_kind) as (app, chat, exchange):
        exchange.set_mark(BTC, D("95000"))
        [plan] = await chat.ask("/supermaintain BTC main")
        # 100 USDT at 10x and 95000: 0.0105 BTC -> 1.05 contracts of 0.01 BTC; keep 10 USDT
        # -> 0.1052 -> 0.11 contracts (rounded up): close 0.94
        assert "2. open 1.05 ct (0.0105 BTC) (market) · margin 100.00 USDT" in plan
        assert "3. close 0.94 ct (0.0094 BTC) (reduce-only) · keeps 0.11 ct (0.0011 BTC)" in plan
        await chat.choose("Confirm", timeout=20)
        assert orders(exchange) == [("main", OrderSide.BUY, Side.SHORT, D("0.05"), True),
                                    ("main", OrderSide.SELL, Side.SHORT, D("1.05"), False),
                                    ("main", OrderSide.BUY, Side.SHORT, D("0.94"), True)]
        # the ladder: the 2nd again 100 / 10, the 3rd 200 / 20 (2.105 -> 2.10 contracts;
        # keep 20 USDT -> 0.2105 -> 0.22)
        for n in (2, 3):
            [plan] = await chat.ask("/supermaintain BTC main")
            assert f"— #{n}" in plan
            await chat.choose("Confirm", timeout=20)
        assert "2. open 2.1 ct (0.021 BTC) (market) · margin 200.00 USDT" in plan
        assert "3. close 1.88 ct (0.0188 BTC) (reduce-only) · keeps 0.22 ct" in plan
        assert orders(exchange)[-3:] == [("main", OrderSide.BUY, Side.SHORT, D("0.11"), True),
                                         ("main", OrderSide.SELL, Side.SHORT, D("2.10"), False),
                                         ("main", OrderSide.BUY, Side.SHORT, D("1.88"), True)]
        [plan] = await chat.ask("/supermaintain BTC main")
        assert "past the ladder" in plan and chat.choices == ["Confirm past the ladder", "Cancel"]


async def test_a_rejected_open_reports_what_is_held_and_retry_finishes(tmp_path):
    async with bot(tmp_path) as (app, chat, exchange):
        exchange.set_mark(APT, D("5"))
        venue = app.venues["sub1"]
        place = venue.place_order

        async def refuse_opens(request):
            if request.opens:
                raise okx_error("51008", venue="paper")
            return await place(request)

        venue.place_order = refuse_opens
        await chat.ask("/supermaintain APT sub1")
        report = (await chat.choose("Confirm", timeout=20))[-1]
        [first] = exchange.orders.values()
        assert f"✅ 1. close old: order {first.venue_id} · filled 60 ct (60 APT)" in report
        assert "❌ 2. open:" in report and "51008" in report
        assert "left 0 ct (0 APT) · maintenance count 0" in report
        assert chat.choices == ["Retry"]
        venue.place_order = place
        report = (await chat.choose("Retry", timeout=20))[-1]
        assert "maintenance count 1\nBefore: " in report
        assert [o[3] for o in orders(exchange)] == [D(60), D(200), D(180)]


@pytest.mark.parametrize("dies", ["after_send", "after_fill"])
@pytest.mark.parametrize("step", [1, 2, 3])
async def test_a_restart_at_every_step_boundary_finishes_without_repeating(
        tmp_path, database_url, step, dies):
    async with bot(tmp_path, database_url=database_url) as (app, chat, exchange):
        exchange.set_mark(APT, D("5"))
        venue = app.venues["sub1"]
        place, sent = venue.place_order, []

        async def dying(request):
            sent.append(request)
            if len(sent) == step and dies == "after_send":
                await place(request)
                raise asyncio.CancelledError  # the process stops: nothing after runs
            order = await place(request)
            return order

        venue.place_order = dying
        if dies == "after_fill":
            follow = app.executor.follow

            async def follow_then_die(v, order, timeout=None):
                final = await follow(v, order, timeout)
                if len(sent) == step:
                    raise asyncio.CancelledError
                return final

            app.executor.follow = follow_then_die
        await chat.ask("/maintain APT sub1")
        with contextlib.suppress(TimeoutError):
            await chat.choose("Confirm", timeout=3)
        assert len(exchange.orders) == step
    # the restart resumes the action
    async with bot(tmp_path, fresh=False, database_url=database_url) as (app, chat,
                                                                          exchange):
        for _ in range(300):
            if app.store.recent_actions(1)[0].state == "done":
                break
            await asyncio.sleep(0.02)
        assert orders(exchange) == [("sub1", OrderSide.SELL, Side.LONG, D(60), True),
                                    ("sub1", OrderSide.BUY, Side.LONG, D(600), False),
                                    ("sub1", OrderSide.SELL, Side.LONG, D(552), True)]
        assert [p.size for p in await app.venues["sub1"].positions()] == [D(48)]
        assert app.store.get_rule_state("sub1", APT, "long", "maintenance") == {"count": 1}


async def test_the_watcher_asks_once_and_its_buttons_lead_to_a_maintenance(tmp_path):
    async with bot(tmp_path, watcher="ask") as (app, chat, exchange):
        exchange.set_mark(APT, D("4.3"))  # sub1's long 60 @ 5 at 10x: -140%
        await app.jobs.run_now("watcher:sub1")
        alert = chat.transcript[-1]
        assert alert.text == ("⚠️ APT-USDT-SWAP long on sub1 is at -140.00% with 30.00 USDT "
                              "margin: maintain it?")
        assert alert.buttons == ["Maintain", "Super maintain", "Skip"]
        before = len(chat.transcript)
        await app.jobs.run_now("watcher:sub1")  # within the cooldown: no second alert
        assert len(chat.transcript) == before
        [plan] = await chat.choose("Super maintain")
        assert plan.startswith("🔧 Super maintain APT-USDT-SWAP long on sub1 — #1")
        await chat.choose("Confirm", timeout=20)
        assert [o[3] for o in orders(exchange)] == [D(60), D(232), D(208)]
    async with bot(tmp_path, fresh=False, watcher="ask") as (app, chat, exchange):
        exchange.set_mark(APT, D("3"))  # the new position at a loss too, but alerted lately
        await app.jobs.run_now("watcher:sub1")
        assert not any(e.text.startswith("⚠️") for e in chat.transcript)


async def test_the_watcher_in_auto_mode_runs_a_super_maintenance(tmp_path):
    async with bot(tmp_path, watcher="auto") as (app, chat, exchange):
        exchange.set_mark(APT, D("4.3"))
        await app.jobs.run_now("watcher:sub1")
        assert [o[3] for o in orders(exchange)] == [D(60), D(232), D(208)]
        assert chat.transcript[-1].text.startswith("🔧 Super maintenance of APT-USDT-SWAP")
        assert "maintenance count 1\nBefore: " in chat.transcript[-1].text


async def test_an_open_of_unknown_fate_is_found_after_a_restart_not_sent_again(
        tmp_path, database_url):
    """Step 2's order lands but its answer and every look-up fail: the action stops as
    partial with the step open. After a restart the order is found, and a retry only
    sends step 3: one open of 600, not two."""
    from bot.venues.base import VenueUnavailable

    async with bot(tmp_path, database_url=database_url) as (app, chat, exchange):
        exchange.set_mark(APT, D("5"))
        venue = app.venues["sub1"]
        place, lookup = venue.place_order, venue.order_by_client_id

        async def lost_answer(request):
            order = await place(request)
            if request.opens:
                raise VenueUnavailable("timeout", code="50004", venue="paper")
            return order

        async def down(symbol, client_id):
            if "a1s20" in client_id:
                raise VenueUnavailable("down", code="50001", venue="paper")
            return await lookup(symbol, client_id)

        venue.place_order, venue.order_by_client_id = lost_answer, down
        await chat.ask("/maintain APT sub1")
        report = (await chat.choose("Confirm", timeout=30))[-1]
        assert "❌ 2. open:" in report
        assert app.store.recent_actions(1)[0].state == "partial"
    async with bot(tmp_path, fresh=False, database_url=database_url) as (app, chat,
                                                                          exchange):
        for _ in range(300):
            if not app.store.unfinished_steps():
                break
            await asyncio.sleep(0.02)
        action = app.store.recent_actions(1)[0]
        report = await app.ops.maintenance.run(action.id)  # what [Retry] runs
        assert report.result.done
        assert orders(exchange) == [("sub1", OrderSide.SELL, Side.LONG, D(60), True),
                                    ("sub1", OrderSide.BUY, Side.LONG, D(600), False),
                                    ("sub1", OrderSide.SELL, Side.LONG, D(552), True)]
        assert [p.size for p in await app.venues["sub1"].positions()] == [D(48)]


async def test_a_failed_automatic_maintenance_offers_retry_in_the_alert_chat(tmp_path):
    from bot.venues.okx.codes import okx_error as refusal

    async with bot(tmp_path, watcher="auto") as (app, chat, exchange):
        exchange.set_mark(APT, D("4.3"))
        venue = app.venues["sub1"]
        place = venue.place_order

        async def refuse_opens(request):
            if request.opens:
                raise refusal("51008", venue="paper")
            return await place(request)

        venue.place_order = refuse_opens
        await app.jobs.run_now("watcher:sub1")
        report = chat.transcript[-1]
        assert "❌ 2. open:" in report.text and report.buttons == ["Retry"]
        venue.place_order = place
        said = await chat.choose("Retry", timeout=20)
        assert "maintenance count 1\nBefore: " in said[-1]


async def test_a_position_under_maintenance_is_left_alone_by_the_rules(tmp_path):
    async with bot(tmp_path) as (app, chat, exchange):
        exchange.set_mark(APT, D("5.5"))  # sub1's long at +100%: take-profit would fire
        from bot.config import RuleMode

        app.config.account("sub1").rules.take_profit = RuleMode.ON
        with app.busy.hold(("sub1", APT, "long")):
            await app.ops.take_profit.run("sub1")
        assert orders(exchange) == []
        await app.ops.take_profit.run("sub1")
        assert orders(exchange) == [("sub1", OrderSide.SELL, Side.LONG, D(18), True)]


async def test_while_paused_a_restart_offers_the_maintenance_instead_of_resuming_it(tmp_path):
    async with bot(tmp_path) as (app, chat, exchange):
        exchange.set_mark(APT, D("5"))
        venue = app.venues["sub1"]
        place = venue.place_order

        async def dies_after_first(request):
            order = await place(request)
            if not request.opens:
                raise asyncio.CancelledError  # the process stops after step 1's order
            return order

        venue.place_order = dies_after_first
        await chat.ask("/pause")
        await chat.ask("/maintain APT sub1")
        with contextlib.suppress(TimeoutError):
            await chat.choose("Confirm", timeout=3)
    async with bot(tmp_path, fresh=False) as (app, chat, exchange):
        for _ in range(200):
            offers = [e for e in chat.transcript if e.text.startswith("⏸ The maintenance")]
            if offers:
                break
            await asyncio.sleep(0.02)
        offer = offers[-1]
        assert offer.text.startswith("⏸ The maintenance of APT-USDT-SWAP long on sub1 was "
                                     "interrupted by a restart")
        assert offer.buttons == ["Retry"] and len(exchange.orders) == 1
        await chat.ask("/resume")
        said = await chat.choose("Retry", timeout=20)
        assert "maintenance count 1\nBefore: " in said[-1]
        assert [o[3] for o in orders(exchange)] == [D(60), D(600), D(552)]


async def test_on_okx_the_maintenance_reads_no_mark_and_each_order_once_after_sending(
        tmp_path):
    """Issue 16: between Confirm and the final report no mark is read (the position's
    mark and each step's fill price the orders) and each order is read once after it is
    sent, its fills then read by its order id."""
    from bot.venues.paper.demo import new_exchange
    from tests.fakes.okx_accounts import CREDENTIALS, KEYS
    from tests.fakes.okx_server import FakeOkxServer

    exchange = new_exchange()
    async with FakeOkxServer(exchange, KEYS, credentials=CREDENTIALS) as server, \
            bot(tmp_path, (exchange, server.base_url)) as (app, chat, _):
        exchange.set_mark(APT, D("5"))
        await chat.ask("/maintain APT sub1")
        mark = len(server.requests)
        said = await chat.choose("Confirm", timeout=20)
        made = server.requests[mark:]
    assert said[-1].startswith("🔧 Maintenance of APT-USDT-SWAP long on sub1")
    assert [r.path for r in made].count("/api/v5/public/mark-price") == 0
    # per order only the read after sending: no check for a client id never sent, none
    # to find the order id for its fills
    assert [(r.method, r.path) for r in made].count(("GET", "/api/v5/trade/order")) == 3
    fills = [r for r in made if r.path == "/api/v5/trade/fills"]
    assert len(fills) == 3 and all(r.query.get("ordId") for r in fills)
