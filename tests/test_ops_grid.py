"""A grid on the paper venue through a price path down and up (issue 14): the BUYs rest
below the market; each BUY that fills gets its SELL hedge, each SELL that fills its BUY
again; nothing is ordered twice, after a restart in the middle neither; a SELL the
holdings do not cover is blocked and said."""

from __future__ import annotations

from bot.domain import OrderRequest, OrderSide, OrderType, Side, TimeInForce
from bot.ops.events import GridDecided, LedgerDrift, LedgerHealed
from tests.opskit import APT, D, make_config, make_rig

GRID = {"name": "apt", "account": "main", "symbol": "APT", "size": 10,
        "buy_levels": [4.9, 4.8, 4.7], "sell_levels": [5.0, 5.1]}


def grid_rig(store, **grid):
    return make_rig(store, make_config(main={"grid": True}, grids=[{**GRID, **grid}]))


def placed(rig):
    """(side, price, size, state) of every order, in the order placed."""
    orders = sorted(rig.exchange.orders.values(), key=lambda o: int(o.venue_id))
    return [(o.side, o.price, o.size, o.state.value) for o in orders]


async def test_a_grid_through_a_price_path_down_and_up(store):
    rig = grid_rig(store)
    await rig.ops.grid.run("apt")  # the market at 5: three buys rest below it
    assert placed(rig) == [(OrderSide.BUY, D("4.9"), D(10), "live"),
                           (OrderSide.BUY, D("4.8"), D(10), "live"),
                           (OrderSide.BUY, D("4.7"), D(10), "live")]

    rig.mark(APT, "4.75")  # down through levels 1 and 2
    await rig.ops.grid.run("apt")
    await rig.ops.grid.run("apt")  # nothing new: no order twice
    assert placed(rig)[3:] == [(OrderSide.SELL, D("5.0"), D(10), "live"),
                               (OrderSide.SELL, D("5.1"), D(10), "live")]

    again = rig.restart()  # a restart in the middle: the journal and the venue, no memory
    await again.ops.grid.run("apt")
    assert len(placed(rig)) == 5

    rig.mark(APT, "5.05")  # up through the first sell
    await again.ops.grid.run("apt")
    await again.ops.grid.run("apt")
    assert placed(rig)[5:] == [(OrderSide.BUY, D("4.9"), D(10), "live")]
    assert rig.position("main").size == D(10)  # bought 20, sold 10
    names = [e.name for e in rig.of(GridDecided) + again.of(GridDecided)]
    assert names.count("grid_hedge_placed") == 2 and names.count("grid_buy_placed") == 4
    assert [e.name for e in again.recorded("grid_sell_filled")] == ["grid_sell_filled"]


async def test_a_sell_the_holdings_do_not_cover_is_blocked_and_said(store):
    rig = grid_rig(store)
    await rig.ops.grid.run("apt")
    rig.mark(APT, "4.85")  # the first buy fills ...
    venue = rig.venues["main"]
    positions = venue.positions

    async def sold_by_hand():  # ... and the trader sells it by hand before the run
        return [p for p in await positions() if p.side is not Side.LONG]

    venue.positions = sold_by_hand
    await rig.ops.grid.run("apt")

    blocked = [e for e in rig.of(GridDecided, delivered=True) if e.name == "grid_sell_blocked"]
    assert len(blocked) == 1 and "would open a short" in blocked[0].message()
    assert [o[0] for o in placed(rig)].count(OrderSide.SELL) == 0


async def test_a_trade_outside_the_grid_is_drift_told_once_and_healed_once(store):
    rig = grid_rig(store)
    await rig.ops.grid.run("apt")
    rig.mark(APT, "4.85")
    await rig.ops.grid.run("apt")  # bought 10 at 4.9: ledger 10, venue 10
    rig.seed("main", APT, Side.LONG, "3")  # the trader buys 3 by hand
    for _ in range(3):
        await rig.ops.grid.run("apt")
    [drift] = rig.of(LedgerDrift, delivered=True)
    assert (drift.ledger, drift.venue) == (D(10), D(13))

    venue = rig.venues["main"]
    await venue.place_order(OrderRequest("hand", APT, OrderSide.SELL, Side.LONG,
                                         OrderType.MARKET, D(3), D("4.5"), reduce_only=True,
                                         time_in_force=TimeInForce.IOC))
    await rig.ops.grid.run("apt")
    await rig.ops.grid.run("apt")

    assert len(rig.of(LedgerDrift)) == 1 and len(rig.of(LedgerHealed, delivered=True)) == 1


async def test_observe_mode_places_nothing_and_tells_each_decision_once(store):
    rig = make_rig(store, make_config(main={"grid": "observe"}, grids=[GRID]))
    for _ in range(3):
        await rig.ops.grid.run("apt")

    assert rig.exchange.orders == {}
    observed = rig.of(GridDecided, delivered=True)
    assert [(e.name, e.decision.level) for e in observed] == [
        ("grid_buy_observed", 0), ("grid_buy_observed", 1), ("grid_buy_observed", 2)]


async def test_the_size_is_coin_and_the_orders_are_in_contracts(store):
    rig = grid_rig(store, symbol="BTC", size="0.05", buy_levels=[94000], sell_levels=[96000])
    rig.mark("BTC-USDT-SWAP", "95000")
    await rig.ops.grid.run("apt")
    assert placed(rig) == [(OrderSide.BUY, D(94000), D(5), "live")]  # 5 x 0.01 BTC
