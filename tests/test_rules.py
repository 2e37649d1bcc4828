"""The take-profit and hedge rules with the spec's numbers."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from bot.domain import Instrument, Position, Side
from bot.rules.hedge import hedge
from bot.rules.take_profit import Skip, Tier, ladder_status, take_profit

APT = Instrument("APT-USDT-SWAP", "APT", D("1"), D("1"), D("1"), D("0.001"))
BCH = Instrument("BCH-USDT-SWAP", "BCH", D("0.1"), D("0.1"), D("0.1"), D("0.01"))
LONG = (Tier(D(25), D(30)), Tier(D(35), D(50)), Tier(D(50), D(50)))
SHORT = (Tier(D(35), D(30)), Tier(D(45), D(50)), Tier(D(55), D(50)))


def pos(side=Side.LONG, size="100", rate="0", margin="10", inst=APT, account="main",
        mark="5", lev="10"):
    return Position(account, inst, side, D(size), D(mark), D(mark), D(margin), D(lev),
                    D(0), D(rate))


def ladder(p):
    return LONG if p.side is Side.LONG else SHORT


def run(p, fired=0):
    return take_profit([p], {p.key: fired}, ladder, D(1))


def test_ladder_100_70_35_18():
    sizes, size = [], D(100)
    for tier in range(3):
        [close] = run(pos(size=str(size), rate="60"), fired=tier)
        assert close.tier == tier + 1
        sizes.append(close.size)
        size -= close.size
    assert sizes == [D(30), D(35), D(17)]
    assert size == D(18)
    assert run(pos(size="18", rate="99"), fired=3) == []


@pytest.mark.parametrize(("side", "rate", "fired", "fires"), [
    (Side.LONG, "24.99", 0, False), (Side.LONG, "25", 0, True),
    (Side.LONG, "34.99", 1, False), (Side.LONG, "35", 1, True),
    (Side.LONG, "49.99", 2, False), (Side.LONG, "50", 2, True),
    (Side.SHORT, "34.99", 0, False), (Side.SHORT, "35", 0, True),
    (Side.SHORT, "44.99", 1, False), (Side.SHORT, "45", 1, True),
    (Side.SHORT, "54.99", 2, False), (Side.SHORT, "55", 2, True),
    (Side.LONG, "-40", 0, False),
])
def test_thresholds(side, rate, fired, fires):
    assert bool(run(pos(side=side, rate=rate), fired)) is fires


@pytest.mark.parametrize(("margin", "fires"), [("1.00", False), ("1", False), ("1.01", True),
                                               ("0.5", False)])
def test_margin_at_or_below_one_is_skipped(margin, fires):
    p = pos(rate="40", margin=margin)
    assert bool(run(p)) is fires
    if not fires:
        assert ladder_status(p, 0, LONG, D(1)).skip is Skip.MARGIN_TOO_SMALL


def test_one_tier_per_run_even_when_profit_jumps():
    [close] = run(pos(rate="60"))
    assert (close.tier, close.size) == (1, D(30))


def test_a_tier_too_small_to_send_is_skipped():
    status = ladder_status(pos(size="1", rate="30", margin="2"), 0, LONG, D(1))
    assert status.skip is Skip.BELOW_MINIMUM
    assert run(pos(size="1", rate="30", margin="2")) == []


def test_positions_are_independent():
    a = pos(rate="30", account="main")
    b = pos(side=Side.SHORT, rate="40", account="sub1")
    c = pos(rate="30", account="sub1")
    closes = take_profit([a, b, c], {c.key: 3}, ladder, D(1))
    assert [(x.position.account, x.position.side, x.tier) for x in closes] == [
        ("main", Side.LONG, 1), ("sub1", Side.SHORT, 1)]


def test_hedge_closes_the_loser_down_to_one_usdt():
    # 100 APT at 5 USDT, 10x: 50 USDT margin; keep 1 USDT -> 2 contracts
    long = pos(rate="20", margin="50")
    short = pos(side=Side.SHORT, rate="-15", margin="50")
    [close], skips = hedge([long, short], D(1), D(1))
    assert (close.loser, close.winner, close.size, close.keep) == (short, long, D(98), D(2))
    assert skips == []


def test_hedge_skips_a_loser_with_margin_at_most_one():
    long = pos(rate="-20", margin="1")
    short = pos(side=Side.SHORT, rate="15")
    closes, [skip] = hedge([long, short], D(1), D(1))
    assert closes == [] and (skip.loser, skip.reason) == (long, "margin_too_small")


@pytest.mark.parametrize(("long_rate", "short_rate"), [("10", "5"), ("-10", "-5"), ("0", "-5"),
                                                       ("10", "0")])
def test_hedge_needs_one_winner_and_one_loser(long_rate, short_rate):
    assert hedge([pos(rate=long_rate), pos(side=Side.SHORT, rate=short_rate)],
                 D(1), D(1)) == ([], [])


def test_hedge_only_pairs_within_one_account():
    assert hedge([pos(rate="10"), pos(side=Side.SHORT, rate="-10", account="sub1")],
                 D(1), D(1)) == ([], [])


def test_seed_bch_hedge_example():
    """Seed 004: short +45.5%, long -8.2% with size 50 and 5.5 USDT margin: close 81.8%."""
    long = pos(size="50", rate="-8.2", margin="5.5", inst=BCH, mark="11")
    short = pos(side=Side.SHORT, size="50", rate="45.5", margin="5.5", inst=BCH, mark="11")
    [close], _ = hedge([long, short], D(1), D(1))
    assert (close.loser.side, close.size, close.keep) == (Side.LONG, D("40.9"), D("9.1"))
    assert round(close.share_pct, 1) == D("81.8")
