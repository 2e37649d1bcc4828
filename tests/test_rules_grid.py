"""The grid rule with seed 001's five causes of "my SELL hedge never appeared": the level
was out of range, sell protection blocked it, the same order was resting already, the
size did not fit the market, or the hedge was in fact placed."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from bot.domain import Instrument, Side
from bot.rules.grid import (
    Direction,
    Ended,
    Grid,
    Place,
    Resting,
    Skip,
    Why,
    after_fills,
    start,
)

BUY, SELL = Direction.BUY, Direction.SELL
# Bitget BTCUSDT: one contract is one coin, sizes in 0.0001, prices in 0.1
BTC = Instrument("BTCUSDT", "BTC", D(1), D("0.0001"), D("0.0001"), D("0.1"))
GRID = Grid("btc", "BTCUSDT", Side.LONG, D("0.0008"),
            buy_levels=(D(90000), D(89000), D(88000)),
            sell_levels=(D(91000), D(92000)), sell_protection_ratio=D("0.95"))


def bought(level, filled="0.0008"):
    return Ended(BUY, level, D(filled))


def test_a_grid_starts_with_buys_at_the_levels_below_the_market():
    assert start(GRID, [], D(89500), BTC) == [
        Place(BUY, 1, D("0.0008"), D(89000), None), Place(BUY, 2, D("0.0008"), D(88000), None)]


def test_cause_5_the_hedge_is_placed_at_the_same_sell_level():
    assert after_fills(GRID, [bought(1)], [], long_held=D("0.0008"), inst=BTC) == [
        Place(SELL, 1, D("0.0008"), D(92000), BUY)]


def test_a_filled_sell_puts_its_buy_back():
    assert after_fills(GRID, [Ended(SELL, 0, D("0.0008"))], [], long_held=D(0), inst=BTC) == [
        Place(BUY, 0, D("0.0008"), D(90000), SELL)]


def test_cause_1_a_buy_level_without_a_sell_level_gets_no_hedge():
    [decision] = after_fills(GRID, [bought(2)], [], long_held=D(1), inst=BTC)
    assert (type(decision), decision.why, decision.detail) == (
        Skip, Why.OUT_OF_RANGE, "level 3 of 2 sell levels")


def test_cause_2_sell_protection_blocks_a_sell_the_holdings_do_not_cover():
    [decision] = after_fills(GRID, [bought(0)], [], long_held=D("0.0007"), inst=BTC)
    assert decision.why is Why.SELL_BLOCKED
    assert decision.detail == ("selling 0.0008 would exceed the 0.0007 held long (x 0.95): "
                               "it would open a short")
    # 0.00076 = 0.0008 x 0.95 is enough; two sells in one run share the holdings
    [ok] = after_fills(GRID, [bought(0)], [], long_held=D("0.00076"), inst=BTC)
    assert isinstance(ok, Place)
    first, second = after_fills(GRID, [bought(0), bought(1)], [], long_held=D("0.0012"),
                                inst=BTC)
    assert isinstance(first, Place) and second.why is Why.SELL_BLOCKED


def test_a_short_grid_sells_without_long_holdings():
    short = Grid("s", "BTCUSDT", Side.SHORT, D("0.0008"), GRID.buy_levels, GRID.sell_levels,
                 D("0.95"))
    [decision] = after_fills(short, [bought(0)], [], long_held=D(0), inst=BTC)
    assert isinstance(decision, Place)


def test_cause_3_an_order_resting_at_the_level_is_not_placed_twice():
    resting = [Resting(SELL, 0, Side.LONG)]
    [decision] = after_fills(GRID, [bought(0)], resting, long_held=D(1), inst=BTC)
    assert (decision.why, decision.detail) == (
        Why.DUPLICATE, "a sell at level 1 is resting already")
    assert start(GRID, [Resting(BUY, 1, Side.LONG)], D(89500), BTC) == [
        Skip(BUY, 1, Why.DUPLICATE, None),
        Place(BUY, 2, D("0.0008"), D(88000), None)]
    # the same level filled twice in one run: the second is a duplicate of the first
    first, second = after_fills(GRID, [bought(0), bought(0)], [], long_held=D(1), inst=BTC)
    assert isinstance(first, Place) and second.why is Why.DUPLICATE


@pytest.mark.parametrize(("filled", "hedged"), [("0.0008", "0.0008"), ("0.00035", "0.0003"),
                                                ("0.00005", None)])
def test_cause_4_partial_fills_count_and_what_does_not_fit_is_refused_here(filled, hedged):
    [decision] = after_fills(GRID, [bought(0, filled)], [], long_held=D(1), inst=BTC)
    if hedged is None:
        assert decision.why is Why.REJECTED
        assert decision.detail == ("size 0.00005 is 0.0000 on the lot 0.0001, below the "
                                   "minimum 0.0001")
    else:
        assert (type(decision), decision.size) == (Place, D(hedged))


def test_an_order_that_filled_nothing_is_not_answered():
    assert after_fills(GRID, [bought(0, "0")], [], long_held=D(1), inst=BTC) == []
