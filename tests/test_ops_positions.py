"""`Positions` on the paper venue: the one lookup every command makes (by coin, by the
venue's id, by account, by side), its refusals, and the overview `/positions` shows,
sorted, with each position's take-profit standing, never raising for an account that
cannot be read. Also: nothing in `bot.ops` (or these tests) imports Telegram."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from bot.domain import Side
from bot.ops.refusal import Refusal
from bot.rules.take_profit import Skip, Tier
from bot.venues.base import VenueUnavailable
from bot.venues.paper.demo import INSTRUMENTS
from tests.opskit import APT, BTC, D, make_config, make_rig

ROOT = Path(__file__).resolve().parent.parent


def held(positions):
    return [(p.account, p.symbol, p.side, p.size) for p in positions]


async def test_find_by_coin_any_case(store):
    rig = make_rig(store)
    rig.seed("main", APT, Side.LONG, "100")

    assert held(await rig.ops.positions.find("apt")) == [("main", APT, Side.LONG, D(100))]


async def test_find_by_the_venues_own_id(store):
    rig = make_rig(store)
    rig.seed("sub1", APT, Side.SHORT, "40")

    assert held(await rig.ops.positions.find("APT-USDT-SWAP")) == [
        ("sub1", APT, Side.SHORT, D(40))]


async def test_find_names_the_account_when_both_hold_it(store):
    rig = make_rig(store)
    rig.seed("main", APT, Side.LONG, "100")
    rig.seed("sub1", APT, Side.LONG, "60")

    assert held(await rig.ops.positions.find("APT", account="sub1")) == [
        ("sub1", APT, Side.LONG, D(60))]


async def test_find_gives_both_sides_of_one_account_or_the_side_asked(store):
    rig = make_rig(store)
    rig.seed("main", APT, Side.LONG, "100")
    rig.seed("main", APT, Side.SHORT, "30")

    both = await rig.ops.positions.find("APT")
    short = await rig.ops.positions.find("APT", side=Side.SHORT)

    assert sorted(p.side for p in both) == [Side.LONG, Side.SHORT]
    assert held(short) == [("main", APT, Side.SHORT, D(30))]


async def test_an_unknown_symbol_close_to_a_known_coin_lists_it(store):
    rig = make_rig(store)

    with pytest.raises(Refusal) as refused:
        await rig.ops.positions.find("APTX")

    assert refused.value.key == "unknown_symbol_near"
    assert refused.value.values == {"symbol": "APTX", "candidates": "APT"}


async def test_an_unknown_symbol_lists_every_known_coin(store):
    rig = make_rig(store)

    with pytest.raises(Refusal) as refused:
        await rig.ops.positions.find("zzz")

    assert refused.value.key == "unknown_symbol_known"
    assert refused.value.values["candidates"] == \
        "AAVE, APT, BCH, BTC, CRO, CRV, DOGE, ETH, SOL, STX, UNI"
    with pytest.raises(Refusal) as again:
        await rig.ops.positions.known_symbol("zzz")
    assert again.value.key == "unknown_symbol_known"


async def test_no_position_is_refused_naming_the_accounts_looked_in(store):
    rig = make_rig(store)
    rig.seed("main", APT, Side.LONG, "100")

    with pytest.raises(Refusal) as refused:
        await rig.ops.positions.find("BTC")
    with pytest.raises(Refusal) as wrong_side:
        await rig.ops.positions.find("APT", side=Side.SHORT)

    assert refused.value.key == "no_position"
    assert refused.value.values == {"what": "BTC", "side": "", "accounts": "main, sub1"}
    assert (wrong_side.value.key, wrong_side.value.values["side"]) == ("no_position", "short")


async def test_a_position_held_on_several_accounts_is_refused_without_an_account(store):
    rig = make_rig(store)
    rig.seed("main", APT, Side.LONG, "100")
    rig.seed("sub1", APT, Side.LONG, "60")

    with pytest.raises(Refusal) as refused:
        await rig.ops.positions.find("APT", side=Side.LONG)

    assert refused.value.key == "several_accounts"
    assert refused.value.values == {"what": "APT", "side": "long", "accounts": "main, sub1"}


async def test_an_unknown_account_is_refused_with_the_configured_names(store):
    rig = make_rig(store)

    with pytest.raises(Refusal) as refused:
        await rig.ops.positions.find("APT", account="sub9")
    with pytest.raises(Refusal) as overview:
        await rig.ops.positions.overview("sub9")

    assert (refused.value.key, refused.value.values) == (
        "unknown_account", {"name": "sub9", "names": "main, sub1"})
    assert overview.value.key == "unknown_account"


async def test_overview_sorts_positions_and_shows_the_take_profit_standing(store):
    rig = make_rig(store, make_config(main={"take_profit": "on"}))
    rig.seed("main", BTC, Side.LONG, "1", entry="95000")
    rig.seed("main", APT, Side.SHORT, "50")
    rig.seed("main", APT, Side.LONG, "100")
    rig.seed("sub1", APT, Side.LONG, "60")
    rig.mark(APT, "5.13")  # the long +26%: tier 1 is due; the short -26%

    main, sub1 = await rig.ops.positions.overview()

    assert (main.account, main.venue, main.error) == ("main", "paper", None)
    assert [(v.position.symbol, v.position.side) for v in main.positions] == [
        (APT, Side.LONG), (APT, Side.SHORT), (BTC, Side.LONG)]
    long, short, _ = (v.take_profit for v in main.positions)
    assert (long.fired, long.skip, long.next_tier) == (0, None, Tier(D(25), D(30)))
    assert (short.skip, short.next_tier) == (Skip.BELOW_THRESHOLD, Tier(D(35), D(30)))
    assert [v.take_profit for v in sub1.positions] == [None]  # take-profit off on sub1


async def test_overview_of_one_account_ignores_case(store):
    rig = make_rig(store)
    rig.seed("main", APT, Side.LONG, "100")
    rig.seed("sub1", APT, Side.LONG, "60")

    [only] = await rig.ops.positions.overview("SUB1")

    assert (only.account, [v.position.size for v in only.positions]) == ("sub1", [D(60)])


async def test_overview_reports_an_account_it_cannot_read_and_shows_the_others(store):
    rig = make_rig(store)
    rig.seed("main", APT, Side.LONG, "100")

    async def down():
        raise VenueUnavailable("503 Service Unavailable", code="503", venue="paper")

    rig.venues["sub1"].positions = down  # type: ignore[method-assign]

    main, sub1 = await rig.ops.positions.overview()

    assert [v.position.size for v in main.positions] == [D(100)]
    assert (sub1.account, sub1.positions, sub1.error, sub1.timed_out, sub1.unreadable) == (
        "sub1", [], "paper 503 503 Service Unavailable", False, True)
    assert main.unreadable is False


async def test_overview_reports_an_account_that_does_not_answer_in_time(store, monkeypatch):
    rig = make_rig(store)
    monkeypatch.setattr("bot.ops.positions.VENUE_READ_TIMEOUT", 0.01)

    async def silent():
        await asyncio.sleep(5)  # cancelled by the overview's timeout

    rig.venues["main"].positions = silent  # type: ignore[method-assign]

    main, sub1 = await rig.ops.positions.overview()

    assert (main.timed_out, main.unreadable, main.positions) == (True, True, [])
    assert (sub1.timed_out, sub1.error) == (False, None)


def test_the_use_cases_and_these_tests_never_import_telegram():
    modules = sorted(p.stem for p in Path(__file__).parent.glob("test_ops_*.py"))
    code = ("import sys, bot.ops.ops, tests.opskit\n"
            + "".join(f"import tests.{m}\n" for m in modules)
            + "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
              "('telegram', 'handlers', 'jobs'))\n"
            + "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr


async def test_the_overview_reads_every_accounts_ladders_in_one_query(store, monkeypatch):
    """Issue 16: 1.2 s for 20 x 50 positions came from one rule-state query per position;
    then one per account made a burst of 200 at 200 accounts."""
    rig = make_rig(store, make_config(main={"take_profit": True}, sub1={"take_profit": True}))
    for inst in INSTRUMENTS:
        for side in Side:
            rig.seed("main", inst.symbol, side, "1", entry=str(rig.exchange.market.mark(
                inst.symbol)))
    reads = []
    for method in ("get_rule_state", "rule_states"):
        real = getattr(rig.ctx.store, method)

        async def counted(*a, real=real, method=method, **k):
            reads.append(method)
            return await real(*a, **k)
        monkeypatch.setattr(rig.ctx.store, method, counted)

    [main, sub1] = await rig.ops.positions.overview()

    assert len(main.positions) == 2 * len(INSTRUMENTS)
    assert all(v.take_profit is not None for v in main.positions)
    assert reads == ["rule_states"]  # one for every account
