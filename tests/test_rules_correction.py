"""Error correction's rule with the seeds' numbers (SPEC §6): leverage to 10, a notional
past target + 5 % closed down to the target in one close, a margin past target + 5 %
moved out in steps of at most 5 USDT, never below what the venue requires; never a step
that adds size or margin."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from bot.domain import Instrument, Position, Side
from bot.rules.correction import Targets, next_margin_move, plan_correction
from bot.sizing import notional

APT = Instrument("APT-USDT-SWAP", "APT", D("1"), D("1"), D("1"), D("0.001"))
BCH = Instrument("BCH-USDT-SWAP", "BCH", D("0.1"), D("0.1"), D("0.1"), D("0.01"))
FIRST = Targets(leverage=D(10), notional=D(100), margin=D(10), tolerance_pct=D(5),
                margin_step=D(5))  # maintenance count 0 or 1
THIRD = Targets(leverage=D(10), notional=D(200), margin=D(20), tolerance_pct=D(5),
                margin_step=D(5))  # count 2


def pos(size, margin, lev="10", mark="5", inst=APT):
    return Position("sub1", inst, Side.LONG, D(size), D(mark), D(mark), D(margin), D(lev),
                    D(0), D(0))


def test_seed_002_margin_106_79_moves_out_in_steps_of_at_most_5_down_to_10():
    plan = plan_correction(pos("20", "106.79"), FIRST)  # 100 USDT of APT at 10x

    assert plan.margin_moves == (D(5),) * 19 + (D("1.79"),)
    assert plan.margin_after == D(10) and abs(plan.margin_after - 10) <= D("0.5")
    assert (plan.leverage_to, plan.close_size) == (None, 0)


def test_leverage_20_is_set_to_10_and_its_margin_follows():
    plan = plan_correction(pos("20", "5", lev="20"), FIRST)

    assert (plan.leverage_to, plan.close_size, plan.margin_moves) == (D(10), 0, ())
    assert plan.margin_after == D(10)  # 100 USDT at 10x


def test_seed_004_bch_notional_1195_is_closed_to_100_in_one_close():
    position = pos("25", "119.5", mark="478", inst=BCH)
    assert notional(position.size, position.mark_price, BCH) == D(1195)

    plan = plan_correction(position, FIRST)

    assert plan.close_size == D("22.9")  # keeps 2.1 ct: 100.38 USDT, rounded up to the lot
    assert plan.notional_after == D("100.38")
    assert plan.margin_moves == ()  # the close released all but ~10.04 of the margin


@pytest.mark.parametrize(("size", "margin"), [
    ("21", "10.5"),  # both at target + 5 %: within tolerance
    ("20", "10"),
    ("20", "8"),  # margin below target: nothing is added
    ("10", "5"),  # notional below target: nothing is bought
])
def test_within_tolerance_or_below_target_nothing(size, margin):
    plan = plan_correction(pos(size, margin), FIRST)

    assert not plan.needed
    assert (plan.leverage_to, plan.close_size, plan.margin_moves) == (None, 0, ())


def test_just_past_tolerance_moves_down_to_the_target():
    assert plan_correction(pos("20", "10.51"), FIRST).margin_moves == (D("0.51"),)


def test_maintenance_count_2_uses_the_200_20_targets():
    assert not plan_correction(pos("40", "20"), THIRD).needed
    assert plan_correction(pos("40", "31"), THIRD).margin_moves == (D(5), D(5), D(1))
    assert plan_correction(pos("40", "31"), FIRST).close_size == D(20)


def test_never_below_what_the_venue_requires():
    # A target margin of 5 on a 100 USDT position at 10x: the venue needs 10.
    low = Targets(leverage=D(10), notional=D(100), margin=D(5), tolerance_pct=D(5),
                  margin_step=D(5))

    plan = plan_correction(pos("20", "30"), low)

    assert plan.floor == D(10) and plan.margin_after == D(10)
    assert plan.margin_moves == (D(5), D(5), D(5), D(5))


def test_every_step_reduces():
    for size, margin, lev in (("300", "500", "3"), ("1", "0.2", "25"), ("60", "31", "10")):
        plan = plan_correction(pos(size, margin, lev), FIRST)
        assert 0 <= plan.close_size <= D(size)
        assert all(0 < move <= 5 for move in plan.margin_moves)


def test_the_next_move_is_decided_from_the_margin_read_back():
    assert next_margin_move(D("12.34"), D(10), FIRST, started=True) == D("2.34")
    assert next_margin_move(D("10.2"), D(10), FIRST, started=False) == 0  # within 5 %
    assert next_margin_move(D("10.2"), D(10), FIRST, started=True) == D("0.2")
    assert next_margin_move(D("9"), D(10), FIRST, started=True) == 0
