"""`PositionLog` on the paper venue: each run compares an account's positions with what
the last run saw and records every difference — opened, increased, reduced, closed —
whoever made it (the bot, or the trader by hand), as `PositionChanged` events."""

from __future__ import annotations

from bot.domain import Side
from bot.ops.events import PositionChanged
from tests.opskit import APT, D, make_rig


def changes(rig):
    return [(e.name, e.where, e.before and e.before["size"], e.after and e.after["size"])
            for e in rig.of(PositionChanged, delivered=True)]


async def test_a_new_position_is_logged_as_opened_once(store):
    rig = make_rig(store)
    rig.seed("main", APT, Side.LONG, "100")

    await rig.ops.position_log.run("main")
    await rig.ops.position_log.run("main")  # nothing changed

    assert changes(rig) == [("position_opened", ("main", APT, "long"), None, "100")]
    [row] = rig.recorded("position_opened")
    assert (row.account, row.symbol, row.side, row.message) == (
        "main", APT, "long", f"{APT} long 100 opened")
    assert row.data == {"before": None, "after": {"size": "100", "entry": "5"}}
    assert store.get_rule_state("main", APT, "long", "position_log") == {
        "size": "100", "entry": "5"}


async def test_a_partial_close_is_logged_as_reduced(store):
    rig = make_rig(store)
    rig.seed("main", APT, Side.LONG, "100")
    await rig.ops.position_log.run("main")
    [position] = await rig.ops.positions.find("APT")
    await rig.ops.closing.close(position, D(40), kind="close", origin="command", plan={})

    await rig.ops.position_log.run("main")

    assert changes(rig)[1:] == [("position_reduced", ("main", APT, "long"), "100", "60")]
    assert rig.recorded("position_reduced")[0].message == f"{APT} long 100 -> 60"


async def test_a_position_added_to_by_hand_is_logged_as_increased(store):
    rig = make_rig(store)
    rig.seed("main", APT, Side.LONG, "100")
    await rig.ops.position_log.run("main")
    rig.seed("main", APT, Side.LONG, "50", entry="5.3")  # the trader added on the venue

    await rig.ops.position_log.run("main")

    [increased] = rig.of(PositionChanged)[1:]
    assert (increased.name, increased.after) == (
        "position_increased", {"size": "150", "entry": "5.1"})


async def test_a_position_that_is_gone_is_logged_as_closed_and_forgotten(store):
    rig = make_rig(store)
    rig.seed("main", APT, Side.LONG, "100")
    rig.seed("main", APT, Side.SHORT, "20")
    await rig.ops.position_log.run("main")
    [position] = await rig.ops.positions.find("APT", side=Side.LONG)
    await rig.ops.closing.close(position, D(100), kind="close", origin="command", plan={})

    await rig.ops.position_log.run("main")
    await rig.ops.position_log.run("main")

    assert changes(rig)[2:] == [("position_closed", ("main", APT, "long"), "100", None)]
    assert rig.recorded("position_closed")[0].data == {
        "before": {"size": "100", "entry": "5"}}
    assert [(r.side, r.state["size"]) for r in store.rule_states(rule="position_log")] == [
        ("short", "20")]


async def test_each_account_keeps_its_own_log(store):
    rig = make_rig(store)
    rig.seed("main", APT, Side.LONG, "100")
    rig.seed("sub1", APT, Side.LONG, "60")

    await rig.ops.position_log.run("sub1")

    assert changes(rig) == [("position_opened", ("sub1", APT, "long"), None, "60")]
    assert [r.account for r in store.rule_states(rule="position_log")] == ["sub1"]


async def test_a_run_over_many_positions_writes_two_transactions(store, monkeypatch):
    """Issue 16: the first run over 1,000 positions was 2,000 commits holding the rule
    loops up; now its events are one and its states another, whatever their number."""
    from bot.venues.paper.demo import INSTRUMENTS

    rig = make_rig(store)
    for inst in INSTRUMENTS:
        for side in Side:
            rig.seed("main", inst.symbol, side, "1", entry=str(rig.exchange.market.mark(
                inst.symbol)))
    sessions = []
    db = store.db.on_loop or store.db  # (PostgreSQL: the running bot's own view of it)
    real = db.session
    monkeypatch.setattr(db, "session", lambda: sessions.append(1) or real())

    await rig.ops.position_log.run("main")

    assert len(sessions) == 2  # (reads take no write lock and are not counted)
    assert len(rig.recorded("position_opened")) == 2 * len(INSTRUMENTS)
    assert len(store.rule_states(account="main", rule="position_log")) == 2 * len(INSTRUMENTS)
