"""`Watcher` on the paper venue: a position whose profit rate fell to the watcher's loss
(-30 %) is told about once per cooldown (`ask`), or gets a super maintenance on the
ladder at once (`auto`); past the ladder's end, or when the maintenance cannot start,
`auto` tells instead of acting."""

from __future__ import annotations

from bot.domain import Side
from bot.ops.events import (
    MaintenanceFinished,
    MaintenanceProgress,
    WatcherAlerted,
    WatcherAutoRefused,
)
from bot.venues.base import VenueUnavailable
from tests.opskit import APT, D, closing, make_config, make_rig, opening

KEY = ("sub1", APT, "long")
SIX_HOURS = 6 * 3600


def losing(rig):
    """sub1's APT long of 30 USDT margin, now at -40 %."""
    rig.seed("sub1", APT, Side.LONG, "60")
    rig.mark(APT, "4.8")


async def test_ask_mode_alerts_once_per_cooldown_and_sends_nothing(store):
    rig = make_rig(store)  # watcher: ask, the default
    losing(rig)
    alerted_at = rig.clock()

    await rig.ops.watcher.run("sub1")
    rig.clock.advance(SIX_HOURS - 1)
    await rig.ops.watcher.run("sub1")

    [alert] = rig.of(WatcherAlerted, delivered=True)
    assert (alert.mode, alert.loss_pct, alert.position.profit_rate) == ("ask", D(-30), D(-40))
    assert rig.orders() == []
    assert store.get_rule_state(*KEY, "watcher") == {"alerted_at": alerted_at.isoformat()}
    [row] = rig.recorded("watcher_alert")
    assert (row.account, row.symbol, row.side, row.message) == (
        "sub1", APT, "long", "profit -40.00% <= -30% (ask)")

    rig.clock.advance(1)  # the cooldown is over
    await rig.ops.watcher.run("sub1")

    assert len(rig.of(WatcherAlerted)) == 2


async def test_a_position_above_the_loss_or_busy_is_left_alone(store):
    rig = make_rig(store)
    losing(rig)
    rig.mark(APT, "4.86")  # -28 %

    await rig.ops.watcher.run("sub1")
    rig.mark(APT, "4.8")
    with rig.ctx.busy.hold(KEY):
        await rig.ops.watcher.run("sub1")

    assert rig.published == [] and store.get_rule_state(*KEY, "watcher") == {}


async def test_auto_mode_runs_a_super_maintenance_on_the_ladder(store):
    rig = make_rig(store, make_config(sub1={"watcher": "auto"}))
    losing(rig)

    await rig.ops.watcher.run("sub1")

    # ladder tier 1: 100 USDT at 4.8 and 10x -> 208; keep 10 USDT at the 4.801 fill -> 21
    assert rig.orders() == [closing("sub1", "60"), opening("sub1", "208"),
                            closing("sub1", "187")]
    # progress is shown alongside the next step, a newer one replacing one not shown yet
    kinds = [type(e) for e in rig.delivered]
    assert kinds[0] is WatcherAlerted and kinds[-1] is MaintenanceFinished
    assert set(kinds[1:-1]) <= {MaintenanceProgress} and len(kinds) <= 5
    alert, finished = rig.delivered[0], rig.delivered[-1]
    assert (alert.mode, finished.name, finished.report.count) == ("auto", "maintenance_done", 1)
    [action] = store.recent_actions()
    assert (action.kind, action.origin.value, action.state.value) == (
        "supermaintain", "rule", "done")
    assert await rig.ops.maintenance.count(KEY) == 1
    assert rig.position("sub1").size == D(21)


async def test_auto_mode_past_the_ladder_end_alerts_instead(store):
    rig = make_rig(store, make_config(sub1={"watcher": "auto"}))
    losing(rig)
    store.put_rule_state(*KEY, "maintenance", {"count": 3})  # the ladder has three tiers

    await rig.ops.watcher.run("sub1")

    assert rig.orders() == [] and store.recent_actions() == []
    assert [type(e) for e in rig.delivered] == [WatcherAlerted, WatcherAutoRefused]
    refused = rig.delivered[1]
    assert (refused.refusal.key, refused.refusal.values) == ("past_ladder_auto", {"count": 3})
    assert rig.recorded("watcher_auto_refused")[0].severity.value == "warning"


async def test_auto_mode_refused_by_the_balance_alerts_with_the_reason(store):
    rig = make_rig(store, make_config(sub1={"watcher": "auto"}),
                   cash={"main": D(1000), "sub1": D(100)})
    losing(rig)  # 70 free + 18 back from the close: short of 100 USDT margin

    await rig.ops.watcher.run("sub1")

    assert rig.orders() == []
    [refused] = rig.of(WatcherAutoRefused, delivered=True)
    assert refused.refusal.key == "balance_short"


async def test_auto_mode_stopped_by_a_venue_error_alerts_with_the_error(store):
    rig = make_rig(store, make_config(sub1={"watcher": "auto"}))
    losing(rig)
    venue = rig.venues["sub1"]
    read, calls = venue.positions, []

    async def flaky():  # the watcher's own read works; the next one does not
        calls.append(1)
        if len(calls) > 1:
            raise VenueUnavailable("Service temporarily unavailable", code="50001",
                                   venue="paper")
        return await read()

    venue.positions = flaky  # type: ignore[method-assign]

    await rig.ops.watcher.run("sub1")

    assert rig.orders() == []
    [refused] = rig.of(WatcherAutoRefused, delivered=True)
    assert refused.refusal.key == "venue_read_failed"
    assert "50001" in str(refused.refusal.values["error"])
