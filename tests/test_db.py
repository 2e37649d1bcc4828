"""The database layer: migrations equal the models, money stays exact, buttons fire once."""

from __future__ import annotations

import stat
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal as D

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Integer, MetaData, inspect, text
from sqlalchemy.exc import IntegrityError, StatementError

from bot.domain import (
    Fill,
    Liquidity,
    Order,
    OrderSide,
    OrderState,
    OrderType,
    Side,
    TimeInForce,
)
from db import Database, Store
from db.models import Base
from db.records import ActionState, ConfirmationState, ConfirmReason, StepState
from db.session import SCHEMA_HEAD
from db.types import DecimalText, UTCDateTime

APT = "APT-USDT-SWAP"
BTC = "BTC-USDT-SWAP"
TABLES = {"orders", "fills", "actions", "action_steps", "rule_state", "events",
          "confirmations", "settings", "open_alerts", "leases", "cluster_members",
          "handoffs"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(params=["file", "memory", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path) -> Iterator[Database]:
    url = {"file": f"sqlite:///{tmp_path}/data/bot.db", "memory": "sqlite://"}.get(
        request.param) or request.getfixturevalue("postgres").new_database(migrated=False)
    db = Database(url)
    db.upgrade()  # alembic's migrations, whose schema the tests compare with the models
    yield db
    db.dispose()
    if request.param == "postgresql":
        request.getfixturevalue("postgres").drop(url)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(database: Database, clock: Clock) -> Store:
    return Store(database, clock=clock)


def make_order(client_id: str = "c1", state: OrderState = OrderState.LIVE,
               filled: D = D(0), **changes: object) -> Order:
    order = Order(client_id=client_id, venue_id="v-" + client_id, symbol=APT,
                  side=OrderSide.SELL, position_side=Side.LONG, type=OrderType.LIMIT,
                  size=D("0.264550"), price=D("95000.1"), reduce_only=True,
                  time_in_force=TimeInForce.GTT,
                  expire_at=datetime(2026, 1, 1, 1, tzinfo=UTC), state=state,
                  filled_size=filled)
    return replace(order, **changes)


def make_fill(trade_id: str, symbol: str = APT, client_id: str = "c1") -> Fill:
    return Fill(trade_id=trade_id, order_venue_id="v-" + client_id, client_id=client_id,
                symbol=symbol, side=OrderSide.SELL, position_side=Side.LONG,
                size=D("0.1"), price=D("95000.1"), fee=D("0.0047500050"),
                realized_pnl=D("-1.25"), liquidity=Liquidity.TAKER,
                time=datetime(2026, 1, 1, 0, 0, 1, 500, tzinfo=UTC))


# -- schema and migrations ---------------------------------------------------------------


def test_migration_creates_every_table(database: Database) -> None:
    names = set(inspect(database.engine).get_table_names())
    assert names == TABLES | {"alembic_version"}
    assert database.current_revision() == SCHEMA_HEAD


def test_migrated_schema_equals_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_schema_comparison_would_catch_drift(database: Database) -> None:
    # Guards the test above against passing vacuously.
    drifted = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["orders"].append_column(Column("extra", Integer))
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert [d[0] for d in compare_metadata(context, drifted)] == ["add_column"]


def test_schema_head_is_alembics_head() -> None:
    # A start at SCHEMA_HEAD skips alembic: a migration added without moving it would
    # never run on an existing database.
    scripts = ScriptDirectory.from_config(Database("sqlite://").alembic_config())
    assert scripts.get_current_head() == SCHEMA_HEAD


def test_a_database_behind_is_brought_to_head(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        db.migrate("0001")
        db.migrate()
        assert db.current_revision() == SCHEMA_HEAD
        assert "open_alerts" in inspect(db.engine).get_table_names()
    finally:
        db.dispose()


@pytest.mark.parametrize("fresh", ["file", "postgresql"])
def test_a_new_database_made_from_the_models_is_the_migrated_one(fresh, tmp_path, request):
    url = (f"sqlite:///{tmp_path}/bot.db" if fresh == "file"
           else request.getfixturevalue("postgres").new_database(migrated=False))
    db = Database(url)
    try:
        db.migrate()  # no tables yet: made from the models, stamped at the head
        assert db.current_revision() == SCHEMA_HEAD
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
        db.upgrade()  # alembic agrees it is at the head: nothing to run
        assert db.current_revision() == SCHEMA_HEAD
    finally:
        db.dispose()
        if fresh == "postgresql":
            request.getfixturevalue("postgres").drop(url)


def test_migrate_twice_is_a_no_op(database: Database, store: Store) -> None:
    store.set_setting("language", "en")
    database.migrate()
    assert database.current_revision() == SCHEMA_HEAD
    assert store.language() == "en"


def test_missing_nested_directory_is_created_with_sqlite_pragmas(tmp_path) -> None:
    path = tmp_path / "does" / "not" / "exist" / "bot.db"
    db = Database(f"sqlite:///{path}")
    try:
        db.migrate()
        assert path.is_file()
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    finally:
        db.dispose()


def test_migrate_works_from_any_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = Database("sqlite://")
    db.migrate()
    assert db.current_revision() == SCHEMA_HEAD
    db.dispose()


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(IntegrityError):
        store.add_step(action_id=999, seq=1, kind="close", params={})


# -- types -------------------------------------------------------------------------------


def test_decimals_round_trip_exactly(store: Store, database: Database) -> None:
    thirty_digits = D("123456789012345.678901234567890")
    store.upsert_order("main", make_order(fee=thirty_digits, realized_pnl=D("-0.10")))
    order = store.get_order("main", "c1").order
    assert (order.size, order.price, order.fee, order.realized_pnl) == (
        D("0.264550"), D("95000.1"), thirty_digits, D("-0.10"))
    # Same digits and exponent, not just an equal value: nothing went through a float.
    assert str(order.size) == "0.264550" and str(order.fee) == str(thirty_digits)
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT size, price FROM orders")).one() == (
            "0.264550", "95000.1")


@pytest.mark.parametrize("bad", [D("NaN"), D("sNaN"), D("Infinity"), D("-Infinity"), 0.1])
def test_non_finite_and_float_are_refused(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        DecimalText().process_bind_param(bad, dialect=None)  # type: ignore[arg-type]


def test_store_refuses_nan_and_writes_nothing(store: Store) -> None:
    with pytest.raises(StatementError):
        store.upsert_order("main", make_order(fee=D("NaN")))
    assert store.get_order("main", "c1") is None


def test_datetimes_are_stored_as_utc_and_come_back_aware(store: Store, clock: Clock) -> None:
    clock.now = datetime(2026, 1, 1, 8, 30, tzinfo=timezone(timedelta(hours=8)))
    store.record_event("tp_fired", "tier 1")
    [event] = store.recent_events()
    assert event.time == clock.now and event.time.tzinfo is UTC
    assert event.time.hour == 0
    with pytest.raises(ValueError):
        UTCDateTime().process_bind_param(datetime(2026, 1, 1), dialect=None)  # type: ignore[arg-type]


# -- settings and events ------------------------------------------------------------------


def test_settings_pause_and_language(store: Store, clock: Clock) -> None:
    assert store.get_setting("missing", 7) == 7
    assert store.language() is None and store.language("zh") == "zh"
    assert not store.is_paused()
    store.set_setting("alerts", {"tp": "silent", "size": D("1.50")})
    assert store.get_setting("alerts") == {"tp": "silent", "size": "1.50"}
    store.set_setting("alerts", None)
    assert store.get_setting("alerts", "gone") == "gone"

    store.set_paused(True, by_user=42)
    state = store.pause_state()
    assert state.paused and state.by_user == 42 and state.since == clock.now
    store.set_paused(False, by_user=42)
    assert not store.is_paused() and store.pause_state().by_user is None
    store.set_paused(True)
    assert store.pause_state().by_user is None and store.is_paused()

    store.set_language("en")
    assert store.language("zh") == "en"


def test_events_filter_by_symbol_and_name_newest_first(store: Store, clock: Clock) -> None:
    first = store.record_event("tp_fired", "APT long tier 1", account="main", symbol=APT,
                               side=Side.LONG, data={"tier": 1, "closed": D("30")})
    clock.advance(1)
    store.record_event("tp_skipped", "BTC margin below 1 USDT", symbol=BTC)
    clock.advance(1)
    store.record_event("tp_fired", "APT long tier 2", symbol=APT, severity="warning")
    clock.advance(1)
    store.record_event("unauthorized", "user 7", severity="error")

    apt = store.recent_events(symbol=APT)
    assert [e.message for e in apt] == ["APT long tier 2", "APT long tier 1"]
    assert apt[1].id == first and apt[1].side == "long"
    assert apt[1].data == {"tier": 1, "closed": "30"}
    assert [e.symbol for e in store.recent_events(name="tp_fired")] == [APT, APT]
    assert len(store.recent_events(limit=2)) == 2
    with pytest.raises(ValueError):
        store.record_event("x", "bad severity", severity="fatal")


# -- confirmations ------------------------------------------------------------------------


def test_confirmation_is_single_use(store: Store) -> None:
    token = store.create_confirmation(1, 100, "close", {"symbol": APT, "size": D("0.5")})
    assert len(token) <= 16 and token.replace("-", "").replace("_", "").isalnum()
    assert store.attach_message(token, 555)
    assert store.get_confirmation(token).message_id == 555

    first = store.consume_confirmation(token, user_id=1)
    assert first.ok and first.kind == "close"
    assert first.payload == {"symbol": APT, "size": "0.5"}
    second = store.consume_confirmation(token, user_id=1)
    assert not second.ok and second.reason is ConfirmReason.ALREADY_USED
    assert second.payload is None


def test_confirmation_expires(store: Store, clock: Clock) -> None:
    token = store.create_confirmation(1, 100, "close", {}, ttl_seconds=120)
    clock.advance(120)
    result = store.consume_confirmation(token, user_id=1)
    assert not result.ok and result.reason is ConfirmReason.EXPIRED
    assert store.get_confirmation(token).state is ConfirmationState.EXPIRED


def test_confirmation_refuses_another_user_without_using_it(store: Store) -> None:
    token = store.create_confirmation(1, 100, "maintain", {"symbol": APT})
    other = store.consume_confirmation(token, user_id=2)
    assert not other.ok and other.reason is ConfirmReason.WRONG_USER
    assert other.payload is None and other.kind is None
    assert store.consume_confirmation(token, user_id=1).ok
    assert store.consume_confirmation(token, 2).reason is ConfirmReason.WRONG_USER


def test_confirmation_unknown_and_cancelled(store: Store) -> None:
    assert store.consume_confirmation("nope", 1).reason is ConfirmReason.UNKNOWN
    token = store.create_confirmation(1, 100, "close", {})
    assert store.cancel_confirmation(token, user_id=2).reason is ConfirmReason.WRONG_USER
    assert store.cancel_confirmation(token, user_id=1).ok
    assert store.consume_confirmation(token, 1).reason is ConfirmReason.CANCELLED
    assert store.cancel_confirmation(token, 1).reason is ConfirmReason.CANCELLED


def test_expired_confirmations_are_swept(store: Store, clock: Clock) -> None:
    old = store.create_confirmation(1, 100, "close", {}, ttl_seconds=60)
    fresh = store.create_confirmation(1, 100, "close", {}, ttl_seconds=600)
    used = store.create_confirmation(1, 100, "close", {}, ttl_seconds=60)
    store.consume_confirmation(used, 1)
    clock.advance(61)
    assert [c.id for c in store.expire_confirmations()] == [old]
    assert store.get_confirmation(fresh).state is ConfirmationState.PENDING
    assert store.expire_confirmations() == []


def _tap_together(store: Store, token: str, taps: int) -> list[bool]:
    barrier = threading.Barrier(taps)
    results: list[bool] = []

    def tap() -> None:
        barrier.wait()
        results.append(store.consume_confirmation(token, 1).ok)

    threads = [threading.Thread(target=tap) for _ in range(taps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_double_tap_from_several_threads_executes_once(tmp_path, clock: Clock) -> None:
    db = Database(f"sqlite:///{tmp_path}/race.db")  # a file: one connection per thread
    db.migrate()
    store = Store(db, clock=clock)
    try:
        for _ in range(10):
            token = store.create_confirmation(1, 100, "close", {})
            assert sorted(_tap_together(store, token, 4)) == [False, False, False, True]
    finally:
        db.dispose()


# -- rule state ---------------------------------------------------------------------------


def test_rule_state_put_get_delete(store: Store) -> None:
    assert store.get_rule_state("main", APT, Side.LONG, "take_profit") == {}
    store.put_rule_state("main", APT, Side.LONG, "take_profit", {"fired": [1]})
    store.put_rule_state("main", APT, Side.LONG, "take_profit", {"fired": [1, 2]})
    store.put_rule_state("main", APT, "long", "maintenance", {"count": 2})
    store.put_rule_state("main", APT, Side.SHORT, "take_profit", {"fired": []})
    store.put_rule_state("sub1", APT, Side.LONG, "take_profit", {"fired": [1]})

    assert store.get_rule_state("main", APT, "long", "take_profit") == {"fired": [1, 2]}
    assert len(store.rule_states(account="main")) == 3
    assert [(r.account, r.side) for r in store.rule_states(rule="take_profit")] == [
        ("main", "long"), ("main", "short"), ("sub1", "long")]

    assert store.delete_rule_state("main", APT, Side.LONG, "take_profit") == 1
    assert store.get_rule_state("main", APT, Side.LONG, "maintenance") == {"count": 2}
    store.put_rule_state("main", APT, Side.LONG, "watcher", {"alerted_at": "t"})
    assert store.delete_rule_state("main", APT, Side.LONG) == 2
    assert store.get_rule_state("main", APT, Side.LONG, "maintenance") == {}
    assert store.get_rule_state("main", APT, Side.SHORT, "take_profit") == {"fired": []}


# -- actions and steps --------------------------------------------------------------------


def test_action_journal(store: Store) -> None:
    action = store.create_action("maintenance", "main", APT, Side.LONG, "command",
                                 {"steps": 3, "size": D("10")}, requested_by=1, chat_id=100)
    close = store.add_step(action, 1, "close", {"size": D("10")}, client_id="m1s1")
    store.add_step(action, 2, "open", {"size": D("100")}, client_id="m1s2")
    store.update_action(action, state=ActionState.RUNNING, message_id=9)
    store.update_step(close, state="sent")

    record = store.action_with_steps(action)
    assert record.state is ActionState.RUNNING and record.message_id == 9
    assert record.plan == {"steps": 3, "size": "10"}
    assert [(s.seq, s.state) for s in record.steps] == [
        (1, StepState.SENT), (2, StepState.INTENDED)]
    assert [s.client_id for s in store.unfinished_steps()] == ["m1s1", "m1s2"]
    assert [a.id for a in store.unfinished_actions()] == [action]

    store.update_step(close, state=StepState.FINAL, result={"filled": "10"})
    store.update_step(close + 1, state="failed", error_code="51008",
                      error_message="insufficient margin")
    store.update_action(action, state="partial", error="step 2 failed")
    assert store.unfinished_steps() == [] and store.unfinished_actions() == []
    assert store.recent_actions()[0].steps[1].error_code == "51008"
    assert store.action_with_steps(12345) is None

    with pytest.raises(TypeError):
        store.update_action(action, kind="close")
    with pytest.raises(ValueError):
        store.update_step(close, state="done")
    with pytest.raises(KeyError):
        store.update_action(12345, state="done")
    with pytest.raises(IntegrityError):
        store.add_step(action, 3, "close", {}, client_id="m1s1")
    with pytest.raises(IntegrityError):
        store.add_step(action, 1, "close", {})


# -- orders and fills ---------------------------------------------------------------------


def test_order_upsert_keeps_one_row_with_the_newer_state(store: Store, clock: Clock) -> None:
    action = store.create_action("close", "main", APT, Side.LONG, "rule", {})
    step = store.add_step(action, 1, "close", {}, client_id="c1")
    first = store.upsert_order("main", make_order(), action_id=action, step_id=step)
    assert [o.order.client_id for o in store.open_orders()] == ["c1"]
    clock.advance(5)
    filled = make_order(state=OrderState.FILLED, filled=D("0.264550"),
                        average_price=D("95000.2"), fee=D("0.01"))
    assert store.upsert_order("main", filled) == first

    [record] = store.orders_for_action(action)
    assert record.id == first and record.step_id == step
    assert record.order.state is OrderState.FILLED
    assert record.order.average_price == D("95000.2")
    assert record.order.updated_at == clock.now
    assert record.order.expire_at == datetime(2026, 1, 1, 1, tzinfo=UTC)
    assert store.open_orders() == []

    # A late poll answer must not turn a filled order back into a live one.
    store.upsert_order("main", make_order())
    assert store.get_order("main", "c1").order.state is OrderState.FILLED

    # The same client id on another account is another order.
    store.upsert_order("sub1", make_order())
    assert [r.account for r in store.recent_orders()] == ["sub1", "main"]
    assert len(store.recent_orders(limit=1)) == 1


def test_fills_are_recorded_once(store: Store) -> None:
    assert store.record_fills("main", [make_fill("t1"), make_fill("t2"),
                                       make_fill("t2")]) == 2
    assert store.record_fills("main", [make_fill("t2"), make_fill("t3")]) == 1
    assert store.record_fills("main", []) == 0
    # OKX numbers trades per instrument: the same id on BTC is a different trade.
    assert store.record_fills("main", [make_fill("t1", symbol=BTC)]) == 1
    assert store.record_fills("sub1", [make_fill("t1")]) == 1

    fills = store.fills_for_order("main", "c1")
    assert [f.fill.trade_id for f in fills] == ["t1", "t2", "t3", "t1"]
    assert fills[0].fill == make_fill("t1")


def test_a_database_in_a_shared_folder_leaves_the_folder_alone(tmp_path) -> None:
    """`sqlite:////tmp/bot.db` must not make /tmp the bot's alone: the file is private."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    db = Database(f"sqlite:///{shared / 'bot.db'}")
    try:
        db.migrate()
    finally:
        db.dispose()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE((shared / "bot.db").stat().st_mode) == 0o600
