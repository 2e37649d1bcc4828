"""Sizing against OKX's real contract specs, and the properties a trader relies on."""

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain import Instrument, OrderSide, Side
from bot.sizing import (
    SizingError,
    close_size,
    close_size_for_coin,
    close_size_for_percent,
    close_size_to_keep,
    coin_from_contracts,
    contracts_from_coin,
    keep_size_for_margin,
    margin_for,
    notional,
    open_size_for_margin,
    price_at_profit_rate,
    profit_rate,
    round_price,
    unrealized_pnl,
    with_slippage,
)

# OKX BTC-USDT-SWAP: 0.01 BTC per contract, lot 0.01, min 0.01, tick 0.1.
BTC = Instrument("BTC-USDT-SWAP", "BTC", D("0.01"), D("0.01"), D("0.01"), D("0.1"))
# OKX APT-USDT-SWAP: 1 APT per contract, lot 1, min 1, tick 0.001.
APT = Instrument("APT-USDT-SWAP", "APT", D("1"), D("1"), D("1"), D("0.001"))
# BCH as in seed 004's hedge example (lot 0.1).
BCH = Instrument("BCH-USDT-SWAP", "BCH", D("0.1"), D("0.1"), D("0.1"), D("0.01"))


@pytest.mark.parametrize(("inst", "coin", "contracts"), [
    (BTC, D("0.001"), D("0.1")),
    (BTC, D("1"), D("100")),
    (BTC, D("0.0001"), D("0.01")),
    (APT, D("25"), D("25")),
    (BCH, D("5"), D("50")),
])
def test_coin_and_contracts(inst, coin, contracts):
    assert contracts_from_coin(coin, inst) == contracts
    assert coin_from_contracts(contracts, inst) == coin


@pytest.mark.parametrize(("inst", "contracts", "price", "lev", "notional_", "margin"), [
    (BTC, D("1"), D("95000"), D("10"), D("950.00"), D("95")),
    (BTC, D("0.25"), D("60000"), D("20"), D("150.00"), D("7.5")),
    (APT, D("60"), D("5.2"), D("10"), D("312.0"), D("31.2")),
    (APT, D("1"), D("5"), D("10"), D("5"), D("0.5")),
])
def test_notional_and_margin(inst, contracts, price, lev, notional_, margin):
    assert notional(contracts, price, inst) == notional_
    assert margin_for(contracts, price, lev, inst) == margin


@pytest.mark.parametrize(("inst", "size", "pct", "expected"), [
    (APT, D("100"), D("30"), D("30")),  # SPEC §3: 100 -> 70
    (APT, D("70"), D("50"), D("35")),  # -> 35
    (APT, D("35"), D("50"), D("17")),  # 17.5 rounds down -> 18 left
    (APT, D("1"), D("30"), D("0")),  # 0.3 rounds to 0: not sent
    (APT, D("2"), D("50"), D("1")),
    (APT, D("10"), D("100"), D("10")),
    (APT, D("10"), D("150"), D("10")),
    (BTC, D("1"), D("25"), D("0.25")),
    (BTC, D("0.03"), D("50"), D("0.01")),  # 0.015 -> 0.01
    (BTC, D("0.01"), D("50"), D("0")),  # below the minimum: nothing
    (BTC, D("0.02"), D("99"), D("0.01")),  # 0.0198 -> 0.01, leaving the minimum
])
def test_close_for_percent(inst, size, pct, expected):
    assert close_size_for_percent(size, pct, inst) == expected


def test_close_leaving_less_than_minimum_closes_all():
    odd = Instrument("X-USDT-SWAP", "X", D("1"), D("0.5"), D("2"), D("0.1"))
    assert close_size(D("10"), D("9"), odd) == D("10")  # 1 left < min 2 -> all
    assert close_size(D("10"), D("8"), odd) == D("8")
    assert close_size(D("10"), D("1.5"), odd) == D("0")  # below min: not sent


@pytest.mark.parametrize(("margin", "mark", "lev", "inst", "expected"), [
    (D("1"), D("5.2"), D("10"), APT, D("2")),  # 1.92 rounds up
    (D("10"), D("5"), D("10"), APT, D("20")),
    (D("10"), D("95000"), D("10"), BTC, D("0.11")),  # 0.10526 rounds up to the lot
    (D("1"), D("1000"), D("10"), BCH, D("0.1")),
    (D("0"), D("5"), D("10"), APT, D("0")),
])
def test_keep_size_for_margin(margin, mark, lev, inst, expected):
    assert keep_size_for_margin(margin, mark, lev, inst) == expected


def test_seed_bch_hedge_example():
    """Seed 004: BCH long of 50 contracts with 5.5 USDT margin closes about 81.8%."""
    lev, mark = D("10"), D("11")  # 50 x 0.1 x 11 / 10 = 5.5 USDT margin
    assert margin_for(D("50"), mark, lev, BCH) == D("5.5")
    keep = keep_size_for_margin(D("1"), mark, lev, BCH)
    assert keep == D("9.1")
    closed = close_size_to_keep(D("50"), keep, BCH)
    assert closed == D("40.9")
    assert round(closed / D("50") * 100, 1) == D("81.8")


@pytest.mark.parametrize(("side", "price", "expected"), [
    (OrderSide.BUY, D("95000.06"), D("95000.0")),
    (OrderSide.SELL, D("95000.01"), D("95000.1")),
    (OrderSide.SELL, D("95000.1"), D("95000.1")),
])
def test_round_price_safe_direction(side, price, expected):
    assert round_price(price, BTC, side) == expected


def test_slippage_bound():
    assert with_slippage(D("5.2"), OrderSide.SELL, D("0.5"), APT) == D("5.174")
    assert with_slippage(D("5.2"), OrderSide.BUY, D("0.5"), APT) == D("5.226")


def test_pnl_and_profit_rate():
    assert unrealized_pnl(Side.LONG, D("60"), D("5"), D("5.2"), APT) == D("12.0")
    assert unrealized_pnl(Side.SHORT, D("1"), D("95000"), D("94000"), BTC) == D("10.00")
    assert profit_rate(D("12"), D("30")) == D("40")
    assert profit_rate(D("1"), D("0")) == D("0")


def test_open_size_for_margin_rounds_down():
    assert open_size_for_margin(D("100"), D("5.2"), D("10"), APT) == D("192")
    assert open_size_for_margin(D("0.1"), D("95000"), D("10"), BTC) == D("0")


def test_close_for_coin():
    assert close_size_for_coin(D("1"), D("0.001"), BTC) == D("0.1")
    assert close_size_for_coin(D("1"), D("0.00999"), BTC) == D("0.99")  # rounds down
    assert close_size_for_coin(D("1"), D("0.00009"), BTC) == D("0")  # below the minimum


def test_bad_inputs_are_refused():
    with pytest.raises(SizingError):
        keep_size_for_margin(D("1"), D("0"), D("10"), APT)
    with pytest.raises(SizingError):
        keep_size_for_margin(D("1"), D("5"), D("NaN"), APT)
    assert close_size(D("10"), D("NaN"), APT) == 0
    assert close_size(D("10"), D("-1"), APT) == 0


@pytest.mark.parametrize(("side", "contracts", "entry", "margin", "rate", "inst", "price"), [
    # sub1's APT long 60 @ 5 with 31 USDT margin: +25% is 7.75 USDT, 0.129166... an APT
    (Side.LONG, D(60), D(5), D(31), D(25), APT, D(5) + D("7.75") / D(60)),
    (Side.LONG, D(50), D(5), D(25), D(50), APT, D("5.25")),
    (Side.SHORT, D(40), D("5.15"), D(20), D(35), APT, D("4.975")),
    # 0.5 BTC-contracts (0.005 BTC) at 95,000, 10x (47.5 USDT): +100% is 95,000 x 10 %
    (Side.LONG, D("0.5"), D(95000), D("47.5"), D(100), BTC, D(104500)),
    (Side.SHORT, D("0.5"), D(95000), D("47.5"), D(100), BTC, D(85500)),
    (Side.SHORT, D(40), D("5.15"), D(20), D(1100), APT, D("-0.35")),  # never reached
])
def test_the_price_of_a_profit_rate_is_where_the_rate_is_reached(side, contracts, entry,
                                                                 margin, rate, inst, price):
    assert price_at_profit_rate(side, contracts, entry, margin, rate, inst) == price
    if price > 0:  # the rate the rules read there is the one asked for
        pnl = unrealized_pnl(side, contracts, entry, price, inst)
        assert profit_rate(pnl, margin).quantize(D("1E-20")) == rate.quantize(D("1E-20"))


def test_a_profit_rate_needs_a_size_and_a_margin():
    with pytest.raises(SizingError):
        price_at_profit_rate(Side.LONG, D(0), D(5), D(31), D(25), APT)
    with pytest.raises(SizingError):
        price_at_profit_rate(Side.LONG, D(60), D(5), D(0), D(25), APT)


# -- properties ---------------------------------------------------------------------------

lots = st.sampled_from([D("1"), D("0.1"), D("0.01"), D("0.5")])
mins = st.integers(min_value=1, max_value=5)


@st.composite
def instruments(draw):
    lot = draw(lots)
    return Instrument("P-USDT-SWAP", "P", draw(st.sampled_from([D("0.01"), D("1"), D("10")])),
                      lot, lot * draw(mins), D("0.001"))


@st.composite
def position_sizes(draw, inst):
    return inst.lot_size * draw(st.integers(min_value=1, max_value=100_000))


decimals = st.decimals(min_value=D("0.001"), max_value=D("1000000"), allow_nan=False,
                       allow_infinity=False, places=4)


@given(st.data())
def test_close_never_exceeds_and_never_leaves_dust(data):
    inst = data.draw(instruments())
    size = data.draw(position_sizes(inst))
    wanted = data.draw(decimals)
    closed = close_size(size, wanted, inst)
    assert 0 <= closed <= size
    assert closed % inst.lot_size == 0
    left = size - closed
    assert closed == 0 or closed == size or left >= inst.min_size
    assert closed == 0 or closed >= inst.min_size or closed == size


@given(st.data())
def test_close_for_percent_never_exceeds(data):
    inst = data.draw(instruments())
    size = data.draw(position_sizes(inst))
    pct = data.draw(st.decimals(min_value=D("0.01"), max_value=D("100"), places=2))
    closed = close_size_for_percent(size, pct, inst)
    assert 0 <= closed <= size
    assert closed == size or closed <= size * pct / 100


@given(st.data())
def test_keep_size_margin_never_below_asked(data):
    inst = data.draw(instruments())
    margin = data.draw(st.decimals(min_value=D("0.01"), max_value=D("10000"), places=2))
    mark = data.draw(decimals)
    lev = D(data.draw(st.integers(min_value=1, max_value=125)))
    keep = keep_size_for_margin(margin, mark, lev, inst)
    assert margin_for(keep, mark, lev, inst) >= margin
    assert keep >= inst.min_size
    # ... and not a lot more than needed: one lot less would be below the asked margin.
    if keep - inst.lot_size >= inst.min_size:
        assert margin_for(keep - inst.lot_size, mark, lev, inst) < margin
