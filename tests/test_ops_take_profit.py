"""`TakeProfit` on the paper venue: one run of the take-profit ladder and the hedge rule on
an account. A tier fires at most once per position per run with its exact size, is
recorded before its order is sent and given back when the venue refuses it; a close
that keeps failing for the same reason is told once (even across a restart) and once
more when it goes through; an observe-mode hedge is told once; `/tp reset` starts the
ladder again."""

from __future__ import annotations

from bot.domain import Side
from bot.ops.events import (
    HedgeClosed,
    HedgeObserved,
    LadderReset,
    LadderRestarted,
    ProblemResolved,
    RuleSkipped,
    TierFailed,
    TierFired,
    TierObserved,
)
from bot.rules.take_profit import Skip
from tests.opskit import APT, SOL, D, closing, make_config, make_rig

TP_ON = make_config(main={"take_profit": "on"})


def ladder(store, rule="take_profit"):
    return store.get_rule_state("main", APT, "long", rule)


async def run(rig, times=1):
    for _ in range(times):
        await rig.ops.take_profit.run("main")


async def test_a_run_fires_one_tier_per_position_with_its_exact_size(store):
    rig = make_rig(store, TP_ON)
    rig.seed("main", APT, Side.LONG, "100")
    rig.seed("main", SOL, Side.LONG, "10", entry="140")
    rig.mark(APT, "5.30")  # +60 %: past all three tiers, yet one tier a run
    rig.mark(SOL, "150")  # +71 %

    await run(rig)
    assert rig.orders() == [closing("main", "30"), closing("main", "3", symbol=SOL)]
    await run(rig, times=3)  # tier 2 (50 % of the rest), tier 3 (on the lot), then none

    assert rig.orders() == [closing("main", "30"), closing("main", "3", symbol=SOL),
                            closing("main", "35"), closing("main", "3.5", symbol=SOL),
                            closing("main", "17"), closing("main", "1.75", symbol=SOL)]
    assert [(e.decision.tier, e.decision.size) for e in rig.of(TierFired)
            if e.position.symbol == APT] == [(1, D(30)), (2, D(35)), (3, D(17))]
    assert ladder(store)["fired"] == 3
    assert len(rig.recorded("tp_fired")) == 6


async def test_a_tier_is_recorded_as_fired_before_its_order_is_sent(store):
    rig = make_rig(store, TP_ON)
    rig.seed("main", APT, Side.LONG, "100")
    rig.mark(APT, "5.13")  # +26 %: tier 1
    venue = rig.venues["main"]
    place, seen = venue.place_order, []

    async def spy(request):
        seen.append(ladder(store))
        return await place(request)

    venue.place_order = spy  # type: ignore[method-assign]

    await run(rig)

    [tier] = rig.of(TierFired)
    assert seen == [{"fired": 1, "entry": "5", "action": tier.action}]
    assert rig.orders() == [closing("main", "30")]
    action = store.action_with_steps(tier.action)
    assert (action.kind, action.origin.value, action.state.value, action.plan) == (
        "take_profit", "rule", "done", {"tier": 1, "size": "30"})


async def test_a_refused_order_gives_the_tier_back(store):
    rig = make_rig(store, TP_ON)
    rig.seed("main", APT, Side.LONG, "100")
    rig.mark(APT, "5.13")
    rig.exchange.faults.reject_orders("51112", account="main", times=1)

    await run(rig)

    assert rig.orders() == []
    assert ladder(store) == {"fired": 0, "entry": "5"}
    [failed] = rig.of(TierFailed, delivered=True)
    assert (failed.decision.tier, failed.repeat) == (1, False)
    assert "51112" in failed.error
    assert store.action_with_steps(failed.action).state.value == "failed"

    await run(rig)  # the venue takes it now: tier 1 again, not tier 2

    assert rig.orders() == [closing("main", "30")]
    assert ladder(store)["fired"] == 1


async def test_a_close_failing_alike_is_told_once_across_a_restart_and_once_resolved(store):
    rig = make_rig(store, TP_ON)
    rig.seed("main", APT, Side.LONG, "100")
    rig.mark(APT, "5.13")
    rig.exchange.faults.reject_orders("51112", account="main", times=None)
    first_failed_at = rig.clock()

    await run(rig, times=10)

    failed = rig.of(TierFailed)
    assert len(failed) == 10
    assert [e.repeat for e in failed] == [False] + [True] * 9
    assert rig.of(TierFailed, delivered=True) == failed[:1]
    assert len(rig.recorded("tp_failed")) == 10  # every run is on record

    rig.clock.advance(60)
    restarted = rig.restart()
    await run(restarted)

    assert [e.repeat for e in restarted.of(TierFailed)] == [True]
    assert restarted.delivered == []

    rig.exchange.faults.clear()
    await run(restarted)
    await run(restarted)  # nothing left to resolve

    assert rig.orders() == [closing("main", "30")]
    [resolved] = restarted.of(ProblemResolved)
    assert restarted.of(ProblemResolved, delivered=True) == [resolved]
    assert (resolved.kind, resolved.problem, resolved.count, resolved.where) == (
        "take_profit", "51112", 11, ("main", APT, "long"))
    assert resolved.since == first_failed_at
    assert [type(e) for e in restarted.delivered] == [TierFired, ProblemResolved]
    assert len(rig.recorded("problem_resolved")) == 1


async def test_an_observed_hedge_that_stays_the_same_is_told_once(store):
    rig = make_rig(store, make_config(main={"hedge": "observe"}))
    rig.seed("main", APT, Side.LONG, "100")
    rig.seed("main", APT, Side.SHORT, "100")
    rig.mark(APT, "5.05")  # long +10 %, short -10 %: close the short down to 1 USDT

    await run(rig, times=10)

    assert rig.orders() == []
    [observed] = rig.of(HedgeObserved)
    assert rig.of(HedgeObserved, delivered=True) == [observed]
    assert (observed.position.side, observed.decision.size, observed.decision.keep) == (
        Side.SHORT, D(98), D(2))
    assert [r.message for r in rig.recorded("hedge_would_close")] == [
        "would close 98 of 100"]


async def test_the_hedge_closes_the_losing_side_down_to_its_keep_margin(store):
    rig = make_rig(store, make_config(main={"hedge": "on"}))
    rig.seed("main", APT, Side.LONG, "100")
    rig.seed("main", APT, Side.SHORT, "100")
    rig.mark(APT, "5.05")

    await run(rig, times=2)  # the second run finds the short already small

    assert rig.orders() == [closing("main", "98", Side.SHORT)]
    [closed] = rig.of(HedgeClosed, delivered=True)
    assert (closed.result.filled_size, closed.decision.winner.side) == (D(98), Side.LONG)
    assert rig.position("main", APT, Side.SHORT).size == D(2)


async def test_reset_publishes_ladder_reset_and_the_ladder_starts_from_tier_one(store):
    rig = make_rig(store, TP_ON)
    rig.seed("main", APT, Side.LONG, "100")
    rig.mark(APT, "5.13")
    await run(rig)
    assert ladder(store)["fired"] == 1

    await rig.ops.take_profit.reset(("main", APT, "long"), by_user=1001)

    [reset] = rig.of(LadderReset, delivered=True)
    assert (reset.key, reset.by_user, reset.name) == (("main", APT, "long"), 1001, "tp_reset")
    assert ladder(store) == {}
    [row] = rig.recorded("tp_reset")
    assert (row.account, row.symbol, row.side, row.message) == (
        "main", APT, "long", "ladder reset by user 1001")
    await run(rig)
    assert rig.orders() == [closing("main", "30"), closing("main", "21")]  # tier 1 of 70


async def test_a_new_entry_restarts_the_ladder(store):
    rig = make_rig(store, TP_ON)
    rig.seed("main", APT, Side.LONG, "100")
    rig.mark(APT, "5.13")
    await run(rig)
    rig.seed("main", APT, Side.LONG, "30", entry="5.13")  # added to: a new average entry

    rig.mark(APT, "5.20")
    await run(rig)

    assert [e.position.size for e in rig.of(LadderRestarted)] == [D(100)]
    assert rig.orders() == [closing("main", "30"), closing("main", "30")]  # 30 % of 100


async def test_observe_mode_records_the_tier_it_would_fire_and_sends_nothing(store):
    rig = make_rig(store, make_config(main={"take_profit": "observe"}))
    rig.seed("main", APT, Side.LONG, "100")
    rig.mark(APT, "5.13")

    await run(rig, times=2)

    assert rig.orders() == []
    [observed] = rig.of(TierObserved)
    assert (observed.decision.tier, observed.decision.size) == (1, D(30))
    assert ladder(store, "take_profit_observe")["fired"] == 1
    assert ladder(store) == {}  # the real ladder is untouched


async def test_a_position_busy_with_another_action_is_skipped(store):
    rig = make_rig(store, TP_ON)
    rig.seed("main", APT, Side.LONG, "100")
    rig.mark(APT, "5.13")

    with rig.ctx.busy.hold(("main", APT, "long")):
        await run(rig)

    assert rig.orders() == []
    [skipped] = rig.of(RuleSkipped)
    assert skipped.name == "tp_skipped_busy"
    assert ladder(store) == {}


async def test_ladders_show_each_position_standing(store):
    rig = make_rig(store, TP_ON)
    rig.seed("main", APT, Side.LONG, "100")
    rig.seed("sub1", APT, Side.LONG, "60")
    rig.mark(APT, "5.13")
    await run(rig)

    main, sub1 = await rig.ops.take_profit.ladders("apt")

    [long] = main.positions
    assert (main.account, main.mode.value, long.fired, long.skip) == (
        "main", "on", 1, Skip.BELOW_THRESHOLD)
    assert (sub1.account, sub1.mode.value) == ("sub1", "off")
    assert await rig.ops.take_profit.ladders("BTC") == []
