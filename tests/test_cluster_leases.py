"""Issue 17: the leases in a real PostgreSQL server (tests/pgserver.py) — shared fairly,
taken over when they expire, never held by two members, and fencing writes."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text

from bot.app import BotApp, ClusterLeft
from bot.cluster import Cluster
from bot.domain import Side
from bot.fence import LeaseLost
from bot.venues.paper.demo import new_exchange
from db import Database, Store
from db.handoffs import Handoffs
from db.leases import TELEGRAM, Leases, account_lease, fence_writes
from handlers.handoff import Handover
from handlers.local_chat import LocalChat
from tests.botkit import USER, make_config, running
from tests.fakes.okx_accounts import CREDENTIALS, KEYS
from tests.fakes.okx_server import FakeOkxServer

ACCOUNTS = [f"acct{n:02}" for n in range(40)]


@pytest.fixture
def url(postgres):
    url = postgres.new_database()
    yield url
    postgres.drop(url)


@pytest.fixture
def databases(url):
    made: list[Database] = []

    def database() -> Database:
        made.append(Database(url))
        return made[-1]

    yield database
    for db in made:
        db.dispose()


def member(db: Database, name: str, seconds: float = 5.0) -> Leases:
    leases = Leases(db, name, host="test", pid=1, seconds=seconds)
    leases.ensure([*map(account_lease, ACCOUNTS), TELEGRAM])
    return leases


def recording_cluster(db: Database, name: str, held: dict[str, set[str]], *,
                      seconds: float = 5.0, idle=lambda account: True) -> Cluster:
    """A Cluster whose gained and lost accounts land in `held[name]`."""
    async def gained(accounts):
        held[name] |= set(accounts)

    async def lost(accounts):
        held[name] -= set(accounts)

    async def polling(on):
        return None

    return Cluster(member(db, name, seconds=seconds), ACCOUNTS, gained=gained, lost=lost,
                   polling=polling, idle=idle)


def accounts_of(held: dict[str, int]) -> set[str]:
    return {n.removeprefix("account:") for n in held if n.startswith("account:")}


def test_the_first_member_takes_every_account_and_telegram(databases):
    a = member(databases(), "a")
    tick = a.tick(ACCOUNTS, telegram=True)
    assert accounts_of(tick.held) == set(ACCOUNTS) and TELEGRAM in tick.held
    assert tick.members == 1 and tick.share == 40
    assert all(epoch == 1 for epoch in tick.held.values())
    again = a.tick(ACCOUNTS, telegram=True)
    assert again.held == tick.held and not again.taken  # renewed, nothing new


def test_a_second_member_takes_what_the_first_gives_up(databases):
    a, b = member(databases(), "a"), member(databases(), "b")
    a.tick(ACCOUNTS, telegram=True)
    b_tick = b.tick(ACCOUNTS, telegram=True)
    assert b_tick.members == 2 and b_tick.share == 20 and not accounts_of(b_tick.held)
    assert TELEGRAM not in b_tick.held  # one poller
    a.release([account_lease(x) for x in ACCOUNTS[20:]])
    b_tick = b.tick(ACCOUNTS, telegram=True)
    assert accounts_of(b_tick.held) == set(ACCOUNTS[20:])
    assert accounts_of(a.tick(ACCOUNTS, telegram=True).held) == set(ACCOUNTS[:20])


def test_expired_leases_go_to_the_survivor_with_a_new_epoch(databases):
    a, b = member(databases(), "a", seconds=0.5), member(databases(), "b", seconds=0.5)
    first = a.tick(ACCOUNTS, telegram=True)
    time.sleep(0.6)  # a stops renewing: its leases and its membership run out
    tick = b.tick(ACCOUNTS, telegram=True)
    assert tick.members == 1 and accounts_of(tick.held) == set(ACCOUNTS)
    assert TELEGRAM in tick.held
    assert all(tick.held[n] == first.held[n] + 1 for n in first.held)
    # a comes back: it renews nothing it lost, and holds nothing any more
    back = a.tick(ACCOUNTS, telegram=True)
    assert not accounts_of(back.held) and TELEGRAM not in back.held


def test_members_taking_at_once_never_take_the_same_lease(databases):
    members = [member(databases(), f"m{k}") for k in range(4)]
    for m in members:  # all alive first, so each one's share is a quarter
        m.tick([], telegram=False)

    async def all_at_once():
        return await asyncio.gather(*(asyncio.to_thread(m.tick, ACCOUNTS, telegram=True)
                                      for m in members))

    ticks = asyncio.run(all_at_once())
    held = [accounts_of(t.held) for t in ticks]
    assert sum(map(len, held)) == 40 and len(set().union(*held)) == 40
    assert all(len(h) == 10 for h in held)
    assert sum(TELEGRAM in t.held for t in ticks) == 1


def test_a_write_for_an_account_not_held_is_refused_and_nothing_is_written(databases):
    db = databases()
    a, b = member(db, "a", seconds=0.5), member(databases(), "b", seconds=0.5)
    held = a.tick(ACCOUNTS, telegram=False).held
    epochs = dict(held)
    fence_writes(db, lambda account: epochs.get(account_lease(account)), a)
    store = Store(db)
    action = store.create_action("close", "acct01", "APT-USDT-SWAP", Side.LONG, "command", {})
    step = store.add_step(action, 1, "close", {})
    store.put_rule_state("acct01", "APT-USDT-SWAP", Side.LONG, "take_profit", {"fired": 1})
    time.sleep(0.6)
    b.tick(ACCOUNTS, telegram=False)  # b takes acct01 over
    with pytest.raises(LeaseLost):
        store.update_step(step, state="failed", error_message="stale process")
    with pytest.raises(LeaseLost):
        store.create_action("close", "acct01", "APT-USDT-SWAP", Side.LONG, "command", {})
    with pytest.raises(LeaseLost):  # a ladder forgotten would fire its tier again
        store.delete_rule_state("acct01", "APT-USDT-SWAP", Side.LONG, "take_profit")
    with pytest.raises(LeaseLost):
        store.end_action(action, "failed")
    record = store.action_with_steps(action)
    assert record is not None and record.steps[0].state == "intended"
    assert record.state == "planned" and len(store.recent_actions(10)) == 1
    assert store.get_rule_state("acct01", "APT-USDT-SWAP", Side.LONG, "take_profit") == {
        "fired": 1}


async def test_two_processes_share_forty_accounts_and_the_survivor_takes_them_all(databases):
    held: dict[str, set[str]] = {"a": set(), "b": set()}

    def cluster(name: str) -> Cluster:
        return recording_cluster(databases(), name, held, seconds=0.6)

    a, b = cluster("a"), cluster("b")
    await a.tick()
    assert held["a"] == set(ACCOUNTS)
    await b.tick()
    await a.tick()  # a sees two members: gives up half
    await b.tick()
    assert len(held["a"]) == 20 and len(held["b"]) == 20 and not held["a"] & held["b"]
    await a.ensure(sorted(held["a"])[0])
    with pytest.raises(LeaseLost):
        await a.ensure(sorted(held["b"])[0])
    # a slow, past its trust but not its lease: it asks the database and goes on
    await asyncio.sleep(0.6 * 0.85)
    await a.ensure(sorted(held["a"])[0])
    assert len(held["a"]) == 20
    # a stopped past its lease, b took everything: a learns it before sending anything
    await asyncio.sleep(0.7)
    await b.tick()
    assert held["b"] == set(ACCOUNTS)
    with pytest.raises(LeaseLost):
        await a.ensure(sorted(held["a"])[0])
    assert held["a"] == set()


async def test_a_command_whose_account_moved_meanwhile_is_told_and_the_bot_goes_on(tmp_path):
    # LeaseLost passes every `except Exception`; a handler it escapes from tells the user,
    # and the next update is handled as ever
    async with running(make_config(tmp_path)) as (app, chat):
        async def moved(_account=None):
            raise LeaseLost("sub1")

        app.ops.positions.overview = moved
        said = await chat.ask("/positions")
        assert said == ["⚠️ Account sub1 was just taken over by another process of the "
                        "cluster: what had begun, it carries on from the journal; if "
                        "nothing had begun, send the command again."]
        assert (await chat.ask("/help"))[0].startswith("Commands")


async def test_a_busy_process_stops_its_surplus_loops_and_gives_them_up_once_idle(databases):
    held: dict[str, set[str]] = {"a": set(), "b": set()}
    busy = {"a": True}

    def cluster(name: str) -> Cluster:
        # a's accounts have something running (while busy["a"]); nothing else does
        return recording_cluster(databases(), name, held, idle=lambda account: not (
            busy.get(name, False) and account in held[name]))

    a, b = cluster("a"), cluster("b")
    await a.tick()
    await b.tick()
    await a.tick()  # every account of a's busy: half stop their loops, leases kept
    assert len(held["a"]) == 20 and len(a.held_accounts()) == 40
    await b.tick()
    assert held["b"] == set()
    busy["a"] = False
    await a.tick()  # idle now: given up
    await b.tick()
    assert len(held["a"]) == len(held["b"]) == 20 and not held["a"] & held["b"]
    assert sorted(a.held_accounts()) == sorted(held["a"])


async def test_a_lease_expired_and_taken_again_in_one_renewal_is_lost_then_taken_up(databases):
    calls: list[tuple[str, int]] = []

    async def gained(accounts):
        calls.append(("gained", len(accounts)))

    async def lost(accounts):
        calls.append(("lost", len(accounts)))

    async def polling(on):
        return None

    a = Cluster(member(databases(), "a", seconds=0.5), ACCOUNTS, gained=gained, lost=lost,
                polling=polling, idle=lambda account: True)
    await a.tick()
    time.sleep(0.6)  # renewed too late: every lease expired, nobody else took one
    await a.tick()
    assert calls == [("gained", 40), ("lost", 40), ("gained", 40)]


async def test_a_process_whose_membership_fails_gives_its_leases_up_and_stops_with_an_error(
        tmp_path, url, monkeypatch):
    exchange = new_exchange()
    renewals = 0
    renew = Cluster.tick

    async def failing(self: Cluster) -> None:
        nonlocal renewals
        renewals += 1
        if renewals == 3:
            raise RuntimeError("a fault in the renewals")
        await renew(self)

    monkeypatch.setattr(Cluster, "tick", failing)
    async with FakeOkxServer(exchange, KEYS, credentials=CREDENTIALS) as server:
        config = make_config(tmp_path, okx_url=server.base_url, database_url=url,
                             telegram={"token": "123:fake"})
        config.cluster.enabled, config.cluster.lease_seconds = True, 3
        app = BotApp(config, chat=LocalChat(user_id=USER))
        with pytest.raises(ClusterLeft, match="a fault in the renewals"):
            await asyncio.wait_for(app.serve(asyncio.Event()), 30)

    assert renewals == 3 and app.ready.is_set()
    db = Database(url)
    with db.reading() as s:
        held = s.execute(text("SELECT name FROM leases WHERE holder IS NOT NULL")).all()
    db.dispose()
    assert held == [], "its leases given up for the others to take at once"


async def test_a_correction_handed_over_runs_at_the_holder_of_its_account(databases, url):
    ran = []

    async def correct(account, user):
        ran.append((account, user))

    def handover(db, held):
        return Handover(Handoffs(db), url, held.__contains__, lambda: sorted(held),
                        settings_changed=_nothing, correct=correct)

    poller, holder = handover(databases(), {"acct01"}), handover(databases(), {"acct02"})
    await poller.correct_elsewhere("acct02", 1001)

    assert poller.queue.take(["acct01"]) == []  # not the poller's to run
    [payload] = holder.queue.take(["acct02"])
    await holder._handle(None, payload)
    assert ran == [("acct02", 1001)]


async def _nothing():
    return None
