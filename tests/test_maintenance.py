"""Maintenance plans and their execution on the paper venue."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from bot.domain import Instrument, OrderSide, OrderState, Position, Side
from bot.execution import Executor, FollowSettings
from bot.maintenance import MaintenancePlan, MaintenanceRunner
from bot.rules.maintenance import LadderTier, plan_normal, plan_super, precheck, super_tier
from bot.venues.paper import PaperVenue
from bot.venues.paper.demo import new_exchange
from db.aio import AsyncStore

APT = "APT-USDT-SWAP"
BTC = Instrument("BTC-USDT-SWAP", "BTC", D("0.01"), D("0.01"), D("0.01"), D("0.1"))
APT_I = Instrument(APT, "APT", D("1"), D("1"), D("1"), D("0.001"))
FAST = FollowSettings(timeout_seconds=1, poll_seconds=0.01, poll_max_seconds=0.05,
                      backoff_seconds=0.01)


def position(inst=APT_I, size="60", mark="5.2", margin="31", lev="10", side=Side.LONG):
    return Position("sub1", inst, side, D(size), D("5"), D(mark), D(margin), D(lev), D(0), D(0))


def test_normal_plan_opens_ten_times_and_keeps_eight_percent():
    plan = plan_normal(position(), D("5.2"), D(10), D(8))
    assert (plan.open_size, plan.final_close, plan.kept) == (D(600), D(552), D(48))
    btc = plan_normal(position(BTC, size="0.05", mark="95000"), D("95000"), D(10), D(8))
    assert (btc.open_size, btc.final_close, btc.kept) == (D("0.50"), D("0.46"), D("0.04"))


def test_super_plan_opens_amount_of_margin_and_keeps_target():
    plan = plan_super(position(), D("5.2"), D(100), D(10))
    # 100 USDT x 10 / 5.2 = 192.3 -> 192 contracts; keep 10 USDT -> 19.2 -> 20 (rounded up)
    assert (plan.open_size, plan.final_close, plan.kept) == (D(192), D(172), D(20))
    btc = plan_super(position(BTC, size="0.05", mark="95000"), D("95000"), D(100), D(10))
    assert (btc.open_size, btc.kept) == (D("1.05"), D("0.11"))  # 10.5 / 1.05 BTC-contracts


def test_the_super_ladder_by_count():
    ladder = [LadderTier(D(100), D(10)), LadderTier(D(100), D(10)), LadderTier(D(200), D(20))]
    assert [super_tier(n, ladder) for n in range(4)] == [ladder[0], ladder[1], ladder[2], None]


def test_precheck_counts_the_balance_the_close_gives_back():
    plan = plan_normal(position(size="60", margin="30"), D("5"), D(10), D(8))  # 300 margin
    assert precheck(plan, free=D("280"), fee_pct=D("0.05")) is None
    short = precheck(plan, free=D("200"), fee_pct=D("0.05"))
    assert short is not None and short.free_after_close == D("230") and short.needed > 300


@pytest.fixture
def exchange():
    ex = new_exchange()
    ex.market.freeze()
    ex.set_mark(APT, D("5"))
    return ex


def runner(store, exchange, account):
    venue = PaperVenue(exchange, account)
    journal = AsyncStore(store)
    return MaintenanceRunner(Executor(journal, client_prefix="m", follow=FAST), journal, venue,
                             D("0.5"), 1.0)


def plan_payload(plan, account):
    p = plan.position
    return MaintenancePlan(plan.kind, account, p.symbol, p.side, p.size, plan.open_size,
                           D(8), plan.price, p.leverage, plan.amount, plan.target)


async def test_maintenance_closes_first_when_the_balance_only_covers_it_then(store, exchange):
    """Seed 002/003: opening before closing fails with 51008; closing first succeeds."""
    exchange.add_account("sub1", D("330"))
    exchange.seed_position("sub1", APT, Side.LONG, D("60"), D("5"), D("10"))  # 30 margin
    [held] = exchange.positions("sub1")
    plan = plan_normal(held, D("5"), D(10), D(8))  # opens 600: 300 USDT margin
    assert exchange.balance("sub1").free == D("300") < plan.open_margin() + plan.fees(D("0.05"))
    action = store.create_action("maintain", "sub1", APT, "long", "command", {})

    result = await runner(store, exchange, "sub1").run(action, plan_payload(plan, "sub1"))

    assert result.done, result.error
    orders = [(o.side, o.size, o.reduce_only) for o in exchange.orders.values()]
    assert orders == [(OrderSide.SELL, D(60), True), (OrderSide.BUY, D(600), False),
                      (OrderSide.SELL, D(552), True)]
    assert all(o.state is OrderState.FILLED for o in exchange.orders.values())
    assert [p.size for p in exchange.positions("sub1")] == [D(48)]
    fills = exchange.account_fills("sub1")
    assert result.fees == sum(f.fee for f in fills)
    assert result.pnl == sum(f.realized_pnl for f in fills)


async def test_a_rejected_open_stops_and_a_retry_resumes_from_it(store, exchange):
    exchange.add_account("sub1", D("1000"))
    exchange.seed_position("sub1", APT, Side.LONG, D("60"), D("5"), D("10"))
    [held] = exchange.positions("sub1")
    plan = plan_super(held, D("5"), D(100), D(10))
    action = store.create_action("supermaintain", "sub1", APT, "long", "command", {})
    payload = plan_payload(plan, "sub1")
    exchange.faults.reject_orders("51008", account="sub1", times=1)

    # the first placement (the close) is refused: nothing happened yet
    first = await runner(store, exchange, "sub1").run(action, payload)
    assert (first.failed_step, first.steps[1].filled_size) == (1, D(0))
    assert "51008" in first.error

    second = await runner(store, exchange, "sub1").run(action, payload)  # [Retry]
    assert second.done
    sides = [(o.side, o.size) for o in exchange.orders.values()]
    assert sides == [(OrderSide.SELL, D(60)), (OrderSide.BUY, D(200)), (OrderSide.SELL, D(180))]
    again = await runner(store, exchange, "sub1").run(action, payload)  # nothing twice
    assert again.done and len(exchange.orders) == 3


def counting(venue, *names):
    """Counts the calls of the venue's methods `names`."""
    calls = dict.fromkeys(names, 0)
    for name in names:
        method = getattr(venue, name)

        async def counted(*args, _name=name, _method=method, **kwargs):
            calls[_name] += 1
            return await _method(*args, **kwargs)

        setattr(venue, name, counted)
    return calls


async def test_a_run_reads_neither_the_position_just_read_nor_a_mark_per_step(store, exchange):
    """The position as read when the action was journaled is step 1's; its mark prices
    step 1's order, each step's fill the next one's: no position read, no mark read."""
    exchange.add_account("sub1", D("1000"))
    exchange.seed_position("sub1", APT, Side.LONG, D("60"), D("5"), D("10"))
    [held] = exchange.positions("sub1")
    payload = plan_payload(plan_normal(held, D("5"), D(10), D(8)), "sub1")
    action = store.create_action("maintain", "sub1", APT, "long", "command", {})
    run = runner(store, exchange, "sub1")
    calls = counting(run.venue, "positions", "mark_price")

    result = await run.run(action, payload, held=held)

    assert result.done and calls == {"positions": 0, "mark_price": 0}
    assert [o.size for o in exchange.orders.values()] == [D(60), D(600), D(552)]


async def test_a_resumed_run_reads_the_position_and_the_mark_it_has_not_seen(store, exchange):
    """A [Retry] or a restart has not read the position: step 1 reads it (its mark
    prices the close), and each later step goes by the fill before it."""
    exchange.add_account("sub1", D("1000"))
    exchange.seed_position("sub1", APT, Side.LONG, D("60"), D("5"), D("10"))
    [held] = exchange.positions("sub1")
    payload = plan_payload(plan_normal(held, D("5"), D(10), D(8)), "sub1")
    action = store.create_action("maintain", "sub1", APT, "long", "command", {})
    exchange.faults.reject_orders("51008", account="sub1", times=1)
    first = await runner(store, exchange, "sub1").run(action, payload, held=held)
    assert first.failed_step == 1
    run = runner(store, exchange, "sub1")
    calls = counting(run.venue, "positions", "mark_price")

    assert (await run.run(action, payload)).done
    assert calls == {"positions": 1, "mark_price": 0}
