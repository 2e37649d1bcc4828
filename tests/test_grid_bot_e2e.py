"""A grid in the running bot (issue 14): its job, its alert in the chat, /status."""

from __future__ import annotations

import contextlib
from decimal import Decimal as D

from bot.domain import OrderSide
from tests.botkit import FAST_FOLLOW, PAPER_EMPTY, make_config, running

APT = "APT-USDT-SWAP"
GRID = {"name": "apt", "account": "main", "symbol": "APT", "size": 10,
        "buy_levels": [4.9, 4.8, 4.7], "sell_levels": [5.0, 5.1]}


@contextlib.asynccontextmanager
async def bought_at_level_1(tmp_path):
    """The bot with grid `apt` on paper main: started with the market at 5, then the
    market comes down to 4.85 and the BUY at level 1 (4.9) fills."""
    config = make_config(tmp_path, rules={"grid": True}, paper=PAPER_EMPTY, close=FAST_FOLLOW,
                         grids=[GRID])

    def seeded(app):
        app.paper.exchange.market.freeze()
        app.paper.exchange.set_mark(APT, D(5))

    async with running(config, prepare=seeded) as (app, chat):
        await app.jobs.run_now("grid:apt")
        app.paper.exchange.set_mark(APT, D("4.85"))
        await app.jobs.run_now("grid:apt")
        yield app, chat


async def test_the_job_tells_the_hedge_it_placed(tmp_path):
    async with bought_at_level_1(tmp_path) as (app, chat):
        orders = sorted(app.paper.exchange.orders.values(), key=lambda o: int(o.venue_id))
        assert [(o.side, o.price, o.size, o.reduce_only) for o in orders] == [
            (OrderSide.BUY, D("4.9"), D(10), False), (OrderSide.BUY, D("4.8"), D(10), False),
            (OrderSide.BUY, D("4.7"), D(10), False), (OrderSide.SELL, D("5.0"), D(10), True)]
        told = [e.text for e in chat.transcript if e.kind == "sent" and "Grid apt" in e.text]
        assert told == ["🕸 Grid apt (APT-USDT-SWAP): the BUY at level 1 filled → SELL hedge "
                        "10 at 5 placed"]
        assert "grid:apt" in "\n".join(await chat.ask("/status"))


async def test_grid_shows_levels_resting_orders_holdings_and_pnl(tmp_path):
    async with bought_at_level_1(tmp_path) as (app, chat):
        [shown] = await chat.ask("/grid")

        assert shown.startswith(
            "🕸 Grid apt — main APT-USDT-SWAP long (on)\n"
            "Buy levels: 4.9 · 4.8 · 4.7 — sell levels: 5 · 5.1\n"
            "Resting: BUY 10 at 4.8 (level 2) · BUY 10 at 4.7 (level 3) · SELL 10 at 5 "
            "(level 1)\n"
            "Holdings: ledger 10, venue 10 · realised PnL 0.00 USDT · fees ")
        assert "disagree" not in shown
        assert await chat.ask("/grid nosuch") == ["Unknown grid nosuch; grids: apt"]
