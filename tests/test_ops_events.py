"""The event bus and the alert memory every use case shares: an event is recorded in the
events table with its position and action, delivered to each front that subscribed
(never stopped by one that fails), and a `repeat` is recorded but not delivered again;
`OpenAlerts` tells a problem once, again only for a new reason, and keeps that memory in
the database across a restart."""

from __future__ import annotations

import logging

from bot.domain import Side
from bot.ops.events import JobFailed, Paused, RuleSkipped
from bot.ops.open_alerts import STALE_AFTER, OpenAlerts
from db.aio import AsyncStore
from tests.opskit import APT, make_rig


async def test_an_event_is_recorded_with_its_position_and_delivered_in_order(store):
    rig = make_rig(store)
    rig.seed("main", APT, Side.LONG, "100")
    [position] = await rig.ops.positions.find("APT")
    second = []

    async def also(event):
        second.append(event)

    rig.ctx.events.subscribe(also)
    action = store.create_action("hedge", "main", APT, "long", "rule", {})
    event = RuleSkipped(position=position, action=action, rule="hedge", why="changed")

    await rig.ctx.publish(event)

    assert rig.delivered == [event] and second == [event]
    [row] = rig.recorded("hedge_skipped_changed")
    assert (row.account, row.symbol, row.side, row.action_id, row.severity.value) == (
        "main", APT, "long", action, "info")
    assert row.message == "the position changed since the run read it; decided again next run"


async def test_a_repeat_is_recorded_and_logged_but_not_delivered(store, caplog):
    rig = make_rig(store)
    caplog.set_level(logging.INFO, logger="bot.events")

    await rig.ctx.publish(JobFailed(job="watcher:main", problem="boom", repeat=True))

    assert rig.delivered == []
    [row] = rig.recorded("job_failed")
    assert (row.severity.value, row.data) == ("error", {"job": "watcher:main"})
    [line] = [r.getMessage() for r in caplog.records if r.name == "bot.events"]
    assert line.startswith("job_failed ") and line.endswith("boom (repeat)")


async def test_a_front_that_fails_to_show_an_event_stops_nothing(store, caplog):
    rig = make_rig(store)
    bus = rig.ctx.events
    bus.subscribers.clear()
    shown = []

    async def broken(event):
        raise RuntimeError("Telegram is down")

    async def working(event):
        shown.append(event)

    bus.subscribe(broken)
    bus.subscribe(working)

    assert await rig.ops.control.pause(1001) is True

    assert [type(e) for e in shown] == [Paused]
    assert store.is_paused() and len(rig.recorded("paused")) == 1
    assert any("event_not_delivered name=paused" in r.getMessage() for r in caplog.records)


async def test_an_open_alert_is_told_once_again_for_a_new_reason_and_kept_across_restarts(
        store):
    rig = make_rig(store)
    alerts = rig.ctx.alerts
    key = f"take_profit|main|{APT}|long"

    told = [await alerts.report(key, "51112"), await alerts.report(key, "51112"),
            await alerts.report(key, "51008")]
    new_reason_at = rig.clock()
    rig.clock.advance(30)
    after_restart = OpenAlerts(AsyncStore(store), rig.clock)
    told.append(await after_restart.report(key, "51008"))

    assert told == [True, False, True, False]
    assert after_restart.keys("take_profit|main|") == [key]
    assert after_restart.keys("hedge|") == []
    cleared = await after_restart.clear(key)
    assert (cleared.signature, cleared.count, cleared.first_at, cleared.last_at) == (
        "51008", 2, new_reason_at, rig.clock())
    assert await after_restart.clear(key) is None and store.open_alerts() == []


async def test_a_problem_unseen_for_a_while_is_told_again_when_it_returns(store):
    """It went away without being seen to clear (the position was closed by hand): when
    the same reason comes back later, it is news again."""
    rig = make_rig(store)
    alerts = rig.ctx.alerts
    key = f"take_profit|main|{APT}|long"

    told = [await alerts.report(key, "51008")]
    rig.clock.advance(STALE_AFTER.total_seconds() - 1)
    told.append(await alerts.report(key, "51008"))  # seen every run: the same problem
    rig.clock.advance(STALE_AFTER.total_seconds() + 1)
    told.append(await alerts.report(key, "51008"))

    assert told == [True, False, True]

