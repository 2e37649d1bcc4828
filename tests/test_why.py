"""Seed 001's five causes of "my SELL hedge never appeared", each brought about in the
running bot on the paper venue: the event the grid records, and `/why` answering it in
one message (issue 14). Then /why for the other rules and its refusals."""

from __future__ import annotations

import contextlib
from decimal import Decimal as D

import pytest

from bot.domain import OrderRequest, OrderSide, OrderType, Side, TimeInForce
from bot.ops.events import GridDecided
from bot.ops.grid import KIND
from bot.rules.grid import Direction, Place
from tests.botkit import FAST_FOLLOW, PAPER_EMPTY, make_config, running

APT = "APT-USDT-SWAP"
GRID = {"name": "apt", "account": "main", "symbol": "APT", "size": 10,
        "buy_levels": [4.9, 4.8], "sell_levels": [5.0]}


@contextlib.asynccontextmanager
async def grid_bot(tmp_path, rules=None, before=None, **grid):
    """The bot with grid `apt` on paper main, started with APT's market at 5: its BUYs
    rest at 4.9 and 4.8. `before(app)` runs before the start (the grid's first run)."""
    config = make_config(tmp_path, rules={"grid": True, **(rules or {})}, paper=PAPER_EMPTY,
                         close=FAST_FOLLOW,
                         grids=[{**GRID, **grid}])

    def seeded(app):
        app.paper.exchange.market.freeze()
        app.paper.exchange.set_mark(APT, D(5))
        if before is not None:
            before(app)

    async with running(config, prepare=seeded) as (app, chat):
        yield app, chat


async def run_grid(app, mark=None):
    if mark is not None:
        app.paper.exchange.set_mark(APT, D(mark))
    await app.jobs.run_now("grid:apt")


async def hedge_placed(app):
    await run_grid(app)
    await run_grid(app, "4.85")  # the BUY at level 1 fills: its SELL hedge goes out


async def out_of_range(app):
    await run_grid(app)
    await run_grid(app, "4.75")  # both BUYs fill; level 2 has no sell level


async def sell_blocked(app):
    await run_grid(app)
    app.paper.exchange.set_mark(APT, D("4.85"))  # the BUY at level 1 fills, and the
    await app.venues["main"].place_order(OrderRequest(  # trader sells it by hand
        "hand", APT, OrderSide.SELL, Side.LONG, OrderType.MARKET, D(10), D("4.5"),
        reduce_only=True, time_in_force=TimeInForce.IOC))
    await run_grid(app)


async def duplicate(app):
    """A SELL at level 1 rests in the grid's journal (a hedge of an earlier fill, as a
    run before would have sent it) when the level's BUY fills."""
    app.paper.exchange.seed_position("main", APT, Side.LONG, D(10), D(5), D(10))
    await run_grid(app)
    state = app.store.get_rule_state("main", APT, "long", f"{KIND}:apt")
    request = OrderRequest("", APT, OrderSide.SELL, Side.LONG, OrderType.LIMIT, D(10),
                           D("5.2"), reduce_only=True, time_in_force=TimeInForce.GTC)
    await app.ops.ctx.executor.order_step(app.venues["main"], int(state["action"]), 50,
                                          "sell:0", request, rest=True)
    await run_grid(app, "4.85")


async def rejected_here(app):
    await run_grid(app)  # the grid's size does not reach APT's minimum of 1 contract


async def rejected_by_venue(app):
    await run_grid(app)


def _refusing(app):
    """From the start: the grid's first run places the BUYs."""
    app.paper.exchange.faults.reject_orders("51008", "Insufficient margin", account="main")


rejected_by_venue.before = _refusing  # type: ignore[attr-defined]


CAUSES = [
    # (cause, set-up, grid changes, level asked, the event, /why's answer)
    ("5 the hedge was in fact placed", hedge_placed, {}, 1, "grid_hedge_placed",
     "The hedge was placed: the BUY at level 1 filled and its SELL 10 at 5 went to the "
     "venue (client id {client_id}). /grid shows whether it still rests."),
    ("1 the level is out of range", out_of_range, {}, 2, "grid_hedge_out_of_range",
     "No hedge: level 2 has no SELL level — grid apt has SELL levels 1 to 1 only. Add "
     "that level in the config, or remove the extra one."),
    ("2 sell protection", sell_blocked, {}, 1, "grid_sell_blocked",
     "Blocked by sell protection: the venue showed 0 held long, less than the SELL's 10 "
     "× 0.95; selling would have opened a short in a long-only grid. Was the position "
     "reduced outside the grid? /grid shows the ledger against the venue."),
    ("3 an order of the level rests already", duplicate, {}, 1, "grid_hedge_duplicate",
     "No second order: a SELL at level 1 was resting already (a level, direction and leg "
     "is never ordered twice)."),
    ("4 the size does not fit the market", rejected_here, {"size": "0.5"}, 1,
     "grid_order_rejected",
     "Not placed: the size 0.5 rounds down to 0 on the venue's lot 1, below its minimum "
     "1. Raise the grid's size per level."),
    ("4 the venue refused it", rejected_by_venue, {}, 1, "grid_order_rejected",
     "The venue refused it: Insufficient margin (code 51008) — BUY 10 at 4.9, level 1."),
]


@pytest.mark.parametrize(("cause", "setup", "grid", "level", "event", "answer"), CAUSES,
                         ids=[c[0] for c in CAUSES])
async def test_each_cause_is_its_event_and_why_answers_it_in_one_message(
        tmp_path, cause, setup, grid, level, event, answer):
    async with grid_bot(tmp_path, before=getattr(setup, "before", None), **grid) as (app, chat):
        await setup(app)
        [recorded, *_] = [e for e in app.store.recent_events(50, symbol=APT)
                          if (e.data or {}).get("level") == level
                          and e.name.startswith("grid_") and "filled" not in e.name]
        assert recorded.name == event

        said = await chat.ask(f"/why apt {level}")

        assert len(said) == 1
        lines = said[0].splitlines()
        assert lines[0] == f"🔎 APT (grid level {level}) — the latest events (UTC, newest last):"
        client_id = (recorded.data or {}).get("client_id")
        assert lines[-1].split(": ", 1)[1] == answer.format(client_id=client_id)
        assert lines[-1].startswith("➡️ Answer (")


async def test_the_timeline_names_every_step_in_order_newest_last(tmp_path):
    async with grid_bot(tmp_path) as (app, chat):
        await out_of_range(app)
        [said] = await chat.ask("/why APT")

    steps = [line.split(" · ", 2)[2] for line in said.splitlines()[1:-1]]
    # (the position log's job may also have seen the position open: its own line)
    assert [step for step in steps if step.startswith("grid ")] == [
        "grid apt: BUY 10 at 4.9 placed at level 1",
        "grid apt: BUY 10 at 4.8 placed at level 2",
        "grid apt: BUY at level 1 filled 10 of 10 at 4.9",
        "grid apt: BUY at level 2 filled 10 of 10 at 4.8",
        "grid apt: the BUY at level 1 filled → SELL hedge 10 at 5 placed",
        "grid apt: no SELL level for level 2 (there are 1)",
    ]
    assert all(line.split(" · ")[1] == "main" for line in said.splitlines()[1:-1])


async def test_why_is_in_the_users_language(tmp_path):
    async with grid_bot(tmp_path) as (app, chat):
        await sell_blocked(app)
        await chat.ask("/lang zh")
        [said] = await chat.ask("/why APT 1")

    assert said.splitlines()[-1].split("：", 1)[1] == (
        "被卖出保护拦截：交易所显示多仓只有 0，少于卖单 10 × 0.95；卖出会在只做多的网格里开出"
        "空仓。仓位是否在网格之外被减过？/grid 可对比账本与交易所。")


async def test_why_answers_for_take_profit_too(tmp_path):
    async with grid_bot(tmp_path, rules={"take_profit": True}) as (app, chat):
        app.paper.exchange.seed_position("main", APT, Side.LONG, D(100), D(5), D(10))
        app.paper.exchange.set_mark(APT, D("5.13"))  # +26%: tier 1 (25%) closes 30%
        await app.jobs.run_now("take_profit:main")
        [said] = await chat.ask("/why APT")

    assert said.splitlines()[-1].split(": ", 1)[1] == (
        "It acted: take-profit tier 1 closed 30 of 30 at 5.128, at a profit rate of 26.00%.")


@pytest.mark.parametrize(("asked", "told"), [
    ("/why", "Usage: /why SYMBOL [grid level]"),
    ("/why APT 1 2", "Usage: /why SYMBOL [grid level]"),
    ("/why APT x", "Not a grid level: x (levels are 1, 2, 3, …)\n"
                   "Usage: /why SYMBOL [grid level]"),
    ("/why APT 0", "Levels count from 1, not 0"),
    ("/why APT 9", "Nothing was recorded for level 9 of a grid on APT"),
    ("/why DOGE", "Nothing was recorded for DOGE; recorded: APT"),
])
async def test_bad_or_empty_questions_get_a_clear_answer(tmp_path, asked, told):
    async with grid_bot(tmp_path) as (app, chat):
        await run_grid(app)
        assert await chat.ask(asked) == [told]


def test_a_placed_decision_keeps_its_numbers_for_why():
    event = GridDecided(grid="g", account_name="main", symbol_name=APT,
                        decision=Place(Direction.SELL, 0, D("0.5"), D(5), Direction.BUY),
                        client_id="c1")
    assert event.data() == {"grid": "g", "direction": "sell", "level": 1, "after": "buy",
                            "size": "0.5", "price": "5", "observed": False,
                            "client_id": "c1"}
