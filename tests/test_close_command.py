"""`/close` end to end on the paper venue, through the production handlers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from bot.domain import OrderRequest, OrderSide, OrderState, OrderType, Side
from handlers.messages import fmt_fee, fmt_plain, fmt_signed_usdt
from tests.botkit import FAST_FOLLOW, PAPER_STILL, USER, make_config, running

OTHER = 1002
APT = "APT-USDT-SWAP"


class Clock:
    def __init__(self) -> None:
        self.shift = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift


def bot(tmp_path, database_url, clock=None, **close):
    # the demo accounts, without the rule loops (the watcher's alert about the demo's STX
    # short would land among the answers): these tests are about /close alone
    config = make_config(tmp_path, database_url=database_url, users=(USER, OTHER),
                         paper=PAPER_STILL, rules={"watcher": "off"},
                         close={**FAST_FOLLOW, **close})
    return running(config, clock=clock)


def orders(app):
    return list(app.paper.exchange.orders.values())


async def test_close_25_percent_confirmed(tmp_path, database_url):
    async with bot(tmp_path, database_url) as (app, chat):
        [question] = await chat.ask("/close apt 25% SUB1")
        assert question.startswith("Close APT-USDT-SWAP long on sub1?\n"
                                   "Size: 15 ct (15 APT) of 60 ct (60 APT)\n")
        assert "Method: market order (reduce-only), worst price" in question
        assert chat.choices == ["Confirm", "Cancel"]
        assert orders(app) == []  # nothing is sent before the confirmation

        said = await chat.choose("Confirm")

        [order] = orders(app)
        assert (order.account, order.symbol, order.side, order.position_side) == (
            "sub1", APT, OrderSide.SELL, Side.LONG)
        assert (order.size, order.reduce_only, order.state) == (D("15"), True, OrderState.FILLED)
        fills = app.paper.exchange.account_fills("sub1", client_id=order.client_id)
        fee = sum(f.fee for f in fills)
        pnl = sum(f.realized_pnl for f in fills)
        price = sum(f.price * f.size for f in fills) / sum(f.size for f in fills)
        assert said[-1] == (
            "✅ Closed APT-USDT-SWAP long on sub1: 15 ct (15 APT) of 15 ct (15 APT)\n"
            f"Average price {fmt_plain(price)} · fee {fmt_fee(fee)} · "
            f"PnL {fmt_signed_usdt(pnl)}\n"
            f"Order {order.venue_id}: filled, filled 15 ct (15 APT), {len(fills)} fills")
        assert chat.choices == []  # the buttons are gone
        positions = await app.venues["sub1"].positions()
        assert [p.size for p in positions] == [D("45")]
        action = app.store.recent_actions(1)[0]
        assert (action.kind, action.state, action.requested_by) == ("close", "done", USER)


async def test_a_close_is_asked_again_when_the_estimate_moved(tmp_path, database_url):
    """Issue 11, case 4: confirmed at one estimate, the market then moves 11%: nothing is
    sent, the question comes again with today's estimate; confirmed again, it closes."""
    async with bot(tmp_path, database_url) as (app, chat):
        exchange = app.paper.exchange
        exchange.market.freeze()
        [question] = await chat.ask("/close apt 25% sub1")
        assert question.startswith("Close APT-USDT-SWAP long on sub1?")
        exchange.set_mark(APT, exchange.market.mark(APT) * D("0.89"))

        [again] = (await chat.choose("Confirm"))[-1:]

        assert orders(app) == []
        assert again.startswith("The estimate moved ")
        assert "Nothing was sent: confirm again:\n\nClose APT-USDT-SWAP long on sub1?" in again
        assert chat.choices == ["Confirm", "Cancel"]
        await chat.choose("Confirm")
        [order] = orders(app)
        assert (order.size, order.reduce_only, order.state) == (D("15"), True, OrderState.FILLED)


async def test_a_double_tap_executes_once(tmp_path, database_url):
    async with bot(tmp_path, database_url) as (app, chat):
        await chat.ask("/close APT 10 sub1")
        message_id = chat.transcript[-1].message_id
        await chat.press("Confirm")
        await chat.press(1, message_id=message_id)
        await chat.settle()
        assert len(orders(app)) == 1
        assert [c for m, c in chat.calls if m == "answerCallbackQuery"][-1]["text"] == \
            "Already handled."


async def test_cancel_sends_nothing(tmp_path, database_url):
    async with bot(tmp_path, database_url) as (app, chat):
        await chat.ask("/close APT all sub1")
        assert await chat.choose("Cancel") == ["Cancelled: nothing was sent."]
        assert orders(app) == []


async def test_the_button_belongs_to_the_user_who_asked(tmp_path, database_url):
    async with bot(tmp_path, database_url) as (app, chat):
        await chat.ask("/close APT 10 sub1")
        await chat.press("Confirm", user_id=OTHER)
        await chat.settle()
        assert orders(app) == []
        assert [c for m, c in chat.calls if m == "answerCallbackQuery"][-1]["text"] == \
            "This button belongs to another user."
        await chat.choose("Confirm")
        assert len(orders(app)) == 1


async def test_an_expired_confirmation_sends_nothing(tmp_path, database_url):
    clock = Clock()
    async with bot(tmp_path, database_url, clock=clock) as (app, chat):
        await chat.ask("/close APT 10 sub1")
        clock.shift = timedelta(seconds=121)
        said = await chat.choose("Confirm")
        assert said == ["This confirmation expired: nothing was sent. Send the command again."]
        assert orders(app) == []


async def test_both_sides_held_asks_which(tmp_path, database_url):
    async with bot(tmp_path, database_url) as (app, chat):
        [question] = await chat.ask("/close APT 1 main")
        assert question == "APT on main: both sides are held. Which one?"
        assert chat.choices == ["long", "short", "Cancel"]
        [confirm] = await chat.choose("short")
        assert confirm.startswith("Close APT-USDT-SWAP short on main?")
        await chat.choose("Confirm")
        [order] = orders(app)
        assert (order.side, order.position_side, order.size) == (OrderSide.BUY, Side.SHORT, D("1"))


async def test_the_position_is_read_again_when_confirming(tmp_path, database_url):
    async with bot(tmp_path, database_url) as (app, chat):
        await chat.ask("/close APT 50 sub1")
        await app.venues["sub1"].place_order(OrderRequest(
            "byhand", APT, OrderSide.SELL, Side.LONG, OrderType.MARKET, D("20"), D("4"),
            reduce_only=True))
        said = await chat.choose("Confirm")
        assert said == ["The position changed: only 40 ct (40 APT) is left. Nothing was sent."]
        assert len(orders(app)) == 1  # only the one placed by hand


async def test_thin_book_closes_in_limit_batches_and_reports_partial(tmp_path, database_url):
    async with bot(tmp_path, database_url, gtt_seconds=1,
                   batch_interval_seconds="0") as (app, chat):
        app.paper.exchange.market.set_book(APT, bids=[(D("5.200"), D("4")),
                                                      (D("4.000"), D("1000"))], asks=[])
        question = (await chat.ask("/close APT 20 sub1"))[0]
        assert "Method: 5 reduce-only limit orders at 5.174, 0 s apart" in question
        said = await chat.choose("Confirm", timeout=10)
        assert said[-1].startswith("⚠️ Partly closed APT-USDT-SWAP long on sub1: "
                                   "4 ct (4 APT) of 20 ct (20 APT), 16 ct (16 APT) not filled")
        placed = orders(app)
        assert len(placed) == 5
        assert all(o.reduce_only and o.price == D("5.174") for o in placed)
        # the first batch took the 4 the book held above the limit; the rest expired
        assert [o.state for o in placed] == [OrderState.FILLED] + [OrderState.EXPIRED] * 4


async def test_a_rejection_names_the_venue_code(tmp_path, database_url):
    async with bot(tmp_path, database_url) as (app, chat):
        await chat.ask("/close APT 10 sub1")
        app.paper.exchange.faults.reject_orders("51008", account="sub1")
        said = await chat.choose("Confirm")
        assert said[-1].startswith("❌ Not closed APT-USDT-SWAP long on sub1: paper 51008 ")
        assert orders(app) == []
        assert app.store.recent_actions(1)[0].state == "failed"


async def test_an_order_that_never_fills_is_reported_unfilled_and_cancelled(tmp_path, database_url):
    async with bot(tmp_path, database_url, follow_timeout_seconds=1) as (app, chat):
        await chat.ask("/close APT 10 sub1")
        app.paper.exchange.faults.never_fill("sub1")
        said = await chat.choose("Confirm", timeout=10)
        [order] = orders(app)
        assert said[-1] == (
            "❌ Not closed APT-USDT-SWAP long on sub1: nothing filled in time; the order was "
            f"cancelled\nOrder {order.venue_id}: cancelled, filled 0 ct (0 APT), 0 fills")
        assert order.state is OrderState.CANCELED
        assert [p.size for p in await app.venues["sub1"].positions()] == [D("60")]


async def test_restart_reconciles_an_order_sent_before_the_stop(tmp_path, database_url):
    from bot.execution import client_id_for

    async with bot(tmp_path, database_url) as (app, chat):
        await chat.ask("/status")  # running: the start-up check has looked already
        store, venue = app.store, app.venues["sub1"]
        action = store.create_action("close", "sub1", APT, "long", "command", {})
        store.update_action(action, state="running")
        client_id = client_id_for(app.executor.client_prefix, action, 1)
        step = store.add_step(action, 1, "close", {"symbol": APT}, client_id)
        await venue.place_order(OrderRequest(client_id, APT, OrderSide.SELL, Side.LONG,
                                             OrderType.MARKET, D("5"), D("4"),
                                             reduce_only=True))
        store.update_step(step, state="sent")
    async with bot(tmp_path, database_url) as (app, chat):
        for _ in range(200):
            if app.store.unfinished_steps() == [] and chat.transcript[-1].text[0] == "🔁":
                break
            await asyncio.sleep(0.02)
        assert chat.transcript[-1].text.startswith("🔁 Unfinished orders checked after the "
                                                   f"restart:\nsub1 {APT} {client_id}: filled")
        assert len(orders(app)) == 1
        assert app.store.action_with_steps(action).state == "done"


KNOWN = "AAVE, APT, BCH, BTC, CRO, CRV, DOGE, ETH, SOL, STX, UNI"
HINT = " (a coin amount like 0.5, a percentage like 25%, or all)"
MALFORMED = [
    ("/close", "Give a symbol and a size"),
    ("/close APT", "Give a size"),
    ("/close APT 0", "The size must be above zero, not 0"),
    ("/close APT -1", "Not a size: -1" + HINT),
    ("/close APT NaN", "Not a size: NaN" + HINT),
    ("/close APT nan%", "Not a size: nan%" + HINT),
    ("/close APT inf", "Not a size: inf" + HINT),
    ("/close APT 1e309", "Not a size: 1e309" + HINT),
    ("/close APT 1e-3", "Not a size: 1e-3" + HINT),
    ("/close APT 0%", "The size must be above zero, not 0%"),
    ("/close APT 101%", "A percentage is at most 100%, not 101%"),
    ("/close APT 100.5%", "A percentage is at most 100%, not 100.5%"),
    ("/close APT %", "Not a size: %" + HINT),
    ("/close APT all all", "all is neither an account (main, sub1) nor long/short"),
    ("/close APT 1 main main", "Give the account once"),
    ("/close APT 1 long short", "Give the side once"),
    ("/close APT 1 sub1 long extra", "Too many arguments: extra"),
    ("/close XYZ 1", "Unknown symbol XYZ; known: " + KNOWN),
    ("/close APX 1", "Unknown symbol APX; did you mean APT?"),
    ("/close 'APT 1", "Not a symbol: 'APT"),
    ("/close APT; 1", "Not a symbol: APT;"),
    ("/close APT' OR 1=1 -- 1", "Too many arguments: 1"),
    ("/close DROP_TABLE_x 1", "Unknown symbol DROP_TABLE_x; known: " + KNOWN),
    ("/close 比特币 1", "Not a symbol: 比特币"),
    ("/close APT 一", "Not a size: 一" + HINT),
    ("/close APT 1,5", "Not a size: 1,5" + HINT),
    ("/close APT 0x10", "Not a size: 0x10" + HINT),
    ("/close APT ١٠٠% sub1", "Not a size: ١٠٠%" + HINT),  # other scripts' digits
    ("/close APT 61 sub1", "61 APT is more than the position (60 APT)"),
    ("/close BTC 1", "No BTC position (accounts: main, sub1)"),
    ("/close APT 1 sub1 short", "No APT short position (accounts: sub1)"),
    ("/close APT 1", "APT is held on main, sub1: add the account"),
    ("/close APT 1 nobody", "nobody is neither an account (main, sub1) nor long/short"),
    ("/close APT 0.4 sub1", "0.4 is below the minimum order (1 APT)"),
    ("/close APT 1% main short", "1% is below the minimum order (1 APT)"),
    ("/close APT " + "9" * 40, "Not a size: 99999999999999999999" + HINT),
]


# Refused for what the account or the market is, not for how the command was written:
# the reason alone, without the usage line.
NOT_THE_FORM = {"/close XYZ 1", "/close APX 1", "/close DROP_TABLE_x 1", "/close APT 61 sub1",
                "/close BTC 1", "/close APT 1 sub1 short", "/close APT 1", "/close APT 0.4 sub1",
                "/close APT 1% main short"}


@pytest.mark.parametrize(("command", "reason"), MALFORMED)
async def test_malformed_close_commands(tmp_path, database_url, command, reason):
    async with bot(tmp_path, database_url) as (app, chat):
        said = await chat.ask(command)
        usage = "" if command in NOT_THE_FORM else \
            "\nUsage: /close SYMBOL SIZE|N%|all [account] [long|short]"
        assert said == [reason + usage]
        assert orders(app) == []
        assert chat.choices == []
        assert (await chat.ask("/positions sub1"))[0].startswith("📈 Positions — sub1")
