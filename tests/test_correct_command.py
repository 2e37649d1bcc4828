"""Error correction through the running bot (issue 12), on the paper venue and on an OKX
sub-account through the fake OKX server: `/correct` previews the next run and [Run now]
brings the drifted position to target — leverage, close, margin moves, in that order —
told in one alert; the `correction:sub1` job then sends nothing."""

from __future__ import annotations

import contextlib
from decimal import Decimal as D

from bot.domain import OrderSide, Side
from handlers.common import SERVICES_KEY
from tests.botkit import FAST_FOLLOW, PAPER_EMPTY, USER, make_config, running

APT = "APT-USDT-SWAP"


@contextlib.asynccontextmanager
async def bot(tmp_path, okx=None):
    config = make_config(tmp_path, okx_url=okx[1] if okx else None,
                         rules={"watcher": "off", "correction": "on"}, paper=PAPER_EMPTY,
                         close=FAST_FOLLOW)

    def exchange_of(app):
        return okx[0] if okx else app.paper.exchange

    def drift(app):
        """sub1 holds APT long at 20x: 60 ct bought at 6 (360 USDT), marked at 5."""
        exchange = exchange_of(app)
        exchange.market.freeze()
        exchange.set_mark(APT, D(5))
        for name in ("main", "sub1"):
            if name not in exchange.accounts:
                exchange.add_account(name, D(1000))
        exchange.seed_position("sub1", APT, Side.LONG, D(60), D(6), D(20))
        # Paused, so no job acts first (/correct's [Run now] is the user's own action).
        app.store.set_paused(True)
        app.pause.reload(True)

    async with running(config, prepare=drift) as (app, chat):
        await chat.ask("/status")
        yield app, chat, exchange_of(app)


def wire(server):
    """sub1's positions reads and its writes, as the fake OKX server received them."""
    names = {"/api/v5/account/positions": "positions",
             "/api/v5/account/set-leverage": "POST set-leverage",
             "/api/v5/account/leverage-info": "leverage-info",
             "/api/v5/trade/order": "POST order",
             "/api/v5/account/position/margin-balance": "POST margin-balance"}
    return [names[r.path] for r in server.requests
            if r.account == "sub1" and r.path in names
            and (r.method == "POST") == names[r.path].startswith("POST")]


def read_back(calls):
    """The calls with repeated reads folded into one: each write, then what it read."""
    return [c for n, c in enumerate(calls) if not (n and c == calls[n - 1] == "positions")]


def writes(exchange):
    return [(o.account, o.side, o.size, o.reduce_only) for o in exchange.orders.values()]


async def test_correct_previews_and_run_now_brings_the_position_to_target(tmp_path,
                                                                         venue_kind):
    async with bot(tmp_path, venue_kind) as (app, chat, exchange):
        [preview] = await chat.ask("/correct")
        assert preview == (
            "🛠 Correction preview — main (on)\nno positions\n\n"
            "🛠 Correction preview — sub1 (on)\n"
            "APT-USDT-SWAP long: leverage 20x → 10x; close 40 ct (40 APT): notional "
            "300.00 USDT → 100.00 USDT; margin 18.00 USDT → 10.00 USDT (moved out 1×, at "
            "most 5.00 USDT each)")
        assert chat.choices == ["Run now", "Cancel"]

        if venue_kind is not None:
            venue_kind[2].requests.clear()
        said = await chat.choose("Run now", timeout=20)
        if venue_kind is not None:  # what reached OKX, in order: each write read back
            # (the run reads the account; the position is read again right before acting)
            # (other reads, e.g. a job's, may come between: the order of these is what counts)
            assert read_back(wire(venue_kind[2])) == [
                "positions", "POST set-leverage", "leverage-info", "positions", "POST order",
                "positions", "POST margin-balance", "positions"]
            [move] = [r.body for r in venue_kind[2].requests if r.path.endswith("balance")]
            assert (move["type"], move["amt"], move["posSide"]) == ("reduce", "2", "long")

        assert said[-1] == ("Correction ran: 1 corrected, 0 failed, 0 left alone (busy or "
                            "changed). The details come as alerts.")
        [alert] = [e.text for e in chat.transcript
                   if e.kind == "sent" and e.text.startswith("🛠 Corrected")]
        assert alert.startswith(
            "🛠 Corrected APT-USDT-SWAP long on sub1:\n"
            "leverage 20x → 10x\n"
            "notional 300.00 USDT → 100.00 USDT (closed 40 ct (40 APT) of 40 ct (40 APT) at ")
        assert alert.endswith("\nmargin 12.00 USDT → 10.00 USDT (moved out 1×)")
        assert writes(exchange) == [("sub1", OrderSide.SELL, D(40), True)]
        [held] = await app.venues["sub1"].positions()
        assert (held.size, held.leverage, held.margin) == (D(20), D(10), D(10))

        await chat.ask("/resume")
        if venue_kind is not None:
            venue_kind[2].requests.clear()
        await app.jobs.run_now("correction:sub1")
        await app.jobs.run_now("correction:sub1")
        if venue_kind is not None:
            assert not [w for w in wire(venue_kind[2]) if w.startswith("POST")]

        assert writes(exchange) == [("sub1", OrderSide.SELL, D(40), True)]
        [action] = app.store.recent_actions(5)
        assert (action.kind, action.state.value, action.origin) == (
            "correction", "done", "command")
        status = "\n".join(await chat.ask("/status"))
        assert "correction:sub1" in status and "correction:main" in status
        [preview] = await chat.ask("/correct sub1")
        assert preview.endswith("APT-USDT-SWAP long: within targets\n\n"
                                "The next run would do nothing.")


class ElsewhereHolds:
    """A cluster where this process holds only `held`: what it hands over, noted."""

    def __init__(self, held):
        self.held, self.handed = set(held), []

    def holds(self, account):
        return account in self.held

    async def correct_elsewhere(self, account, user_id):
        self.handed.append((account, user_id))


async def test_in_a_cluster_run_now_hands_each_account_held_elsewhere_to_its_holder(
        tmp_path):
    async with bot(tmp_path) as (app, chat, exchange):
        cluster = ElsewhereHolds(held={"main"})
        app.application.bot_data[SERVICES_KEY].handover = cluster
        await chat.ask("/correct")
        said = await chat.choose("Run now", timeout=20)

        assert cluster.handed == [("sub1", USER)]
        assert writes(exchange) == [], "sub1 is corrected where it is held, not here"
        assert said[-1] == (
            "Correction ran: 0 corrected, 0 failed, 0 left alone (busy or changed). The "
            "details come as alerts.\nsub1: held by other processes of the cluster, "
            "corrected there; their results come as alerts.")
