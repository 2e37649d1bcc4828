"""Seed 001's grid where it ran: Bitget, through the real ccxt `bitget` class against the
local Bitget v2 server (which serves a paper exchange). A price path down and up with a
restart in the middle: every BUY fill gets its SELL, every SELL fill its BUY again, no
level ordered twice; a trade by hand is drift told once; a SELL the holdings do not cover
is blocked and alerted (issue 14)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from bot.domain import OrderRequest, OrderSide, OrderType, Side, TimeInForce
from bot.ops.events import GridDecided, LedgerDrift, LedgerHealed
from bot.venues.ccxt.venue import CcxtVenue
from bot.venues.paper.demo import new_exchange
from bot.venues.retry import RetryPolicy
from tests.fakes.bitget_accounts import CREDENTIALS, KEYS, credentials_of
from tests.fakes.bitget_server import FakeBitgetServer
from tests.fakes.okx_accounts import RecordingSleep
from tests.opskit import make_config, make_rig

BTC = "BTC-USDT-SWAP"  # the paper exchange's id; Bitget's is BTCUSDT, ccxt's BTC/USDT:USDT
PLACE = "/api/v2/mix/order/place-order"
GRID = {"name": "btc", "account": "main", "symbol": "BTC", "size": "0.0008",
        "buy_levels": [94000, 93000, 92000], "sell_levels": [95000, 94000]}
RETRY = RetryPolicy(attempts=3, first_delay=0.01, max_delay=0.05)


@pytest.fixture
def exchange():
    ex = new_exchange()
    ex.market.freeze()
    ex.set_mark(BTC, D(95000))
    ex.add_account("main", D(10000))
    ex.add_account("sub1", D(10000))
    return ex


@pytest.fixture
async def server(exchange):
    async with FakeBitgetServer(exchange, KEYS, credentials=CREDENTIALS) as srv:
        yield srv
    assert srv.errors == []


@pytest.fixture
async def rig(store, exchange, server):
    """The grid's ops with each account's venue the ccxt adapter over Bitget's wire; a
    restart builds new adapters (new ccxt clients, no memory)."""
    opened: list[CcxtVenue] = []

    def bitget(name: str) -> CcxtVenue:
        venue = CcxtVenue(name, "bitget", **credentials_of(name), base_url=server.base_url,
                          timeout_seconds=2, retry=RETRY, sleep=RecordingSleep(),
                          client_rate_limit=False)
        venue.exchange.timeout_on_exit = 0
        opened.append(venue)
        return venue

    yield make_rig(store, make_config(main={"grid": True}, grids=[GRID]), exchange=exchange,
                   venue_of=bitget)
    for venue in opened:
        await venue.close()


def sent(server, since=0):
    """What reached Bitget's place-order, in order: (side, tradeSide, price, size)."""
    return [(r.body["side"], r.body["tradeSide"], r.body.get("price"), r.body["size"])
            for r in server.requests_to(PLACE)[since:]]


def at_venue(exchange):
    """The paper exchange's orders in the order placed: (side, price, contracts, state)."""
    orders = sorted(exchange.orders.values(), key=lambda o: int(o.venue_id))
    return [(o.side, o.price, o.size, o.state.value) for o in orders]


async def test_a_price_path_down_and_up_with_a_restart_in_the_middle(rig, exchange, server):
    await rig.ops.grid.run("btc")  # the market at 95000: three BUYs rest below it
    assert sent(server) == [("buy", "Open", "94000", "0.0008"),
                            ("buy", "Open", "93000", "0.0008"),
                            ("buy", "Open", "92000", "0.0008")]

    rig.mark(BTC, "92500")  # down through levels 1 and 2
    await rig.ops.grid.run("btc")
    await rig.ops.grid.run("btc")  # nothing twice
    # A hedge SELL closes the long: in hedge mode Bitget's side names the position.
    assert sent(server, 3) == [("buy", "Close", "95000", "0.0008"),
                               ("buy", "Close", "94000", "0.0008")]

    again = rig.restart()  # new clients: only the journal and the venue remember
    await again.ops.grid.run("btc")
    assert len(sent(server)) == 5

    rig.mark(BTC, "94500")  # up through the second SELL (94000)
    await again.ops.grid.run("btc")
    await again.ops.grid.run("btc")
    assert sent(server, 5) == [("buy", "Open", "93000", "0.0008")]

    assert at_venue(exchange) == [
        (OrderSide.BUY, D(94000), D("0.08"), "filled"),
        (OrderSide.BUY, D(93000), D("0.08"), "filled"),
        (OrderSide.BUY, D(92000), D("0.08"), "live"),
        (OrderSide.SELL, D(95000), D("0.08"), "live"),
        (OrderSide.SELL, D(94000), D("0.08"), "filled"),
        (OrderSide.BUY, D(93000), D("0.08"), "live")]
    [long] = [p for p in exchange.positions("main") if p.symbol == BTC]
    assert long.size == D("0.08")  # 0.0008 BTC: bought two levels, sold one
    names = [e.name for e in rig.of(GridDecided) + again.of(GridDecided)]
    assert names.count("grid_hedge_placed") == 2 and names.count("grid_buy_placed") == 4
    assert "grid_hedge_duplicate" not in names
    assert not rig.of(LedgerDrift) and not again.of(LedgerDrift)


async def test_a_trade_by_hand_is_drift_told_once_and_healed_once(rig, exchange, server):
    await rig.ops.grid.run("btc")
    rig.mark(BTC, "93500")
    await rig.ops.grid.run("btc")  # bought 0.0008 at 94000: the ledger and Bitget agree
    venue = rig.venues["main"]
    hand = OrderRequest("hand1", "BTC/USDT:USDT", OrderSide.BUY, Side.LONG, OrderType.MARKET,
                        D("0.0003"), None)
    await venue.place_order(hand)  # the trader buys 0.0003 BTC by hand
    for _ in range(3):
        await rig.ops.grid.run("btc")
    [drift] = rig.of(LedgerDrift, delivered=True)
    assert (drift.ledger, drift.venue) == (D("0.0008"), D("0.0011"))

    await venue.place_order(OrderRequest(
        "hand2", "BTC/USDT:USDT", OrderSide.SELL, Side.LONG, OrderType.MARKET, D("0.0003"),
        None, reduce_only=True, time_in_force=TimeInForce.IOC))
    await rig.ops.grid.run("btc")
    await rig.ops.grid.run("btc")
    assert len(rig.of(LedgerDrift)) == 1 and len(rig.of(LedgerHealed, delivered=True)) == 1


async def test_a_sell_the_holdings_do_not_cover_is_blocked_and_alerted(rig, exchange, server):
    await rig.ops.grid.run("btc")
    rig.mark(BTC, "93500")  # the BUY at 94000 fills ...
    await rig.venues["main"].place_order(OrderRequest(  # ... and is sold by hand at once
        "hand1", "BTC/USDT:USDT", OrderSide.SELL, Side.LONG, OrderType.MARKET, D("0.0008"),
        None, reduce_only=True, time_in_force=TimeInForce.IOC))
    placed = len(sent(server))
    await rig.ops.grid.run("btc")

    [blocked] = [e for e in rig.of(GridDecided, delivered=True)
                 if e.name == "grid_sell_blocked"]
    assert blocked.decision.numbers == {"size": "0.0008", "held": "0", "ratio": "0.95"}
    assert sent(server, placed) == []  # no SELL reached Bitget
