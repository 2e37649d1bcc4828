"""Reliability suite, kill points (issue 11): the real `bot.py` process, trading through the
fake OKX server and commanded through the fake Bot API server, is killed with SIGKILL at
every write of every journaled action (an order, a margin change, a leverage setting) —
once the fake server answered it (a step boundary), and while it is in flight (landed at
the venue but not answered, or not landed at all) — then started again on the same
config, database and exchange. After the
restart the journal must end the action and say what the venue did, and the exchange must
hold no duplicate order (one per client id, one per journaled step) and no size the action
did not mean.

The actions: a `/close` in limit batches (a thin book), a `/maintain`, a `/supermaintain`,
a take-profit tier fired by the job (market, and in limit batches on a thin book), and an
error correction by its job (leverage, a close, two margin moves). Each action also runs
once undisturbed, which says how many writes it makes: the kill points are every one of
them, in each of the three ways; and some orders are also killed
in flight and then land late, while the restarted bot looks for them (tests/killkit.py).

All kill points run together (a few at a time: two bot starts each) in a module fixture;
each test then judges one of them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from bot.domain import OrderSide, Side
from bot.execution import LOOKUPS_BEFORE_LOST
from bot.rules.maintenance import final_close_normal, final_close_super
from bot.sizing import keep_size_for_margin
from bot.venues.paper.engine import PaperExchange
from tests.fakes.okx_accounts import APT, seeded_exchange
from tests.killkit import LATE, MODES, Act, Ending, KillPoint, bot_launcher, nothing

AT_ONCE = 4  # kill points running together (each is mostly waiting for its bot process)
UNDISTURBED = "undisturbed"  # the run without a kill: how many orders the action places
HELD = {"main": {"long": D(100), "short": D(30)}, "sub1": {"long": D(60)}}  # the seed
TP_MARK = D("5.22")  # main's long: +27.5 %, above tier 1 (25 %), below tier 2 (35 %)


def thin_book(exchange: PaperExchange) -> None:
    """12 contracts on the top three bids, so a close of more goes out in limit batches
    at 5.174 (best bid less 0.5 %); the fourth level holds the rest, so every batch fills
    at once (a resting GTT order would be followed for its whole life)."""
    exchange.market.set_book(APT, bids=[(D("5.200"), D("4")), (D("5.195"), D("4")),
                                        (D("5.190"), D("4")), (D("5.180"), D("5000"))],
                             asks=[(D("5.210"), D("5000"))])


# ----- the actions ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Action:
    name: str
    account: str
    side: Side
    writes: int  # orders (and margin, leverage) sent undisturbed: checked by test_undisturbed
    act: Act
    prepare: Callable[[PaperExchange], None] = lambda exchange: None
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    close: dict[str, Any] = field(default_factory=dict)
    correction: dict[str, Any] = field(default_factory=dict)
    linger: float = 0  # keep the restarted bot this long after recovery (a rule's next run)


async def close_in_batches(point: KillPoint) -> None:
    await point.command_confirmed("/close APT 30 sub1")


async def maintain(point: KillPoint) -> None:
    await point.command_confirmed("/maintain APT main long")


async def supermaintain(point: KillPoint) -> None:
    await point.command_confirmed("/supermaintain APT main long")


def tp_mark(exchange: PaperExchange) -> None:
    exchange.set_mark(APT, TP_MARK)


def tp_mark_thin(exchange: PaperExchange) -> None:
    tp_mark(exchange)
    thin_book(exchange)


def drifted_sub(exchange: PaperExchange) -> None:
    """sub1's long at 20x, bought at 7 (60 ct, 21 USDT of margin): the correction sets 10x
    (42 USDT at the entry), closes 40 of 60 (leaving 14) and moves 2, then 1.6 USDT out
    (the venue needs 10.4 at 5.2): four writes."""
    account = exchange.accounts["sub1"]
    position = account.positions[(APT, Side.LONG)]
    account.cash += position.margin - D(21)
    position.entry_price, position.leverage, position.margin = D(7), D(20), D(21)
    account.leverage[(APT, Side.LONG)] = D(20)


ACTIONS = {a.name: a for a in (
    Action("close", "sub1", Side.LONG, 3, close_in_batches, thin_book, close={"batches": 3}),
    Action("maintain", "main", Side.LONG, 3, maintain),
    Action("supermaintain", "main", Side.LONG, 3, supermaintain),
    Action("take_profit", "main", Side.LONG, 1, nothing, tp_mark,
           rules={"main": {"take_profit": True}}, linger=1.5),
    Action("take_profit_batches", "main", Side.LONG, 3, nothing, tp_mark_thin,
           rules={"main": {"take_profit": True}}, close={"batches": 3}, linger=1.5),
    Action("correction", "sub1", Side.LONG, 4, nothing, drifted_sub,
           rules={"sub1": {"correction": True}}, correction={"margin_step": 2}, linger=1.5),
)}

# An order that lands late: once the restarted bot has looked it up as many times as it
# does before it calls an order lost, well inside a late window of 20 s. The orders where
# it matters most: a close's middle batch, each step of a maintenance (step 2 opens), a
# super maintenance's open, the tier's order.
LATE_WINDOW = "20"
LATE_POINTS = [("close", 2), ("maintain", 1), ("maintain", 2), ("maintain", 3),
               ("supermaintain", 2), ("take_profit", 1)]
POINTS = [(action.name, UNDISTURBED, 0) for action in ACTIONS.values()] + [
    (action.name, mode, n) for action in ACTIONS.values() for mode in MODES
    for n in range(1, action.writes + 1)] + [(name, LATE, n) for name, n in LATE_POINTS]


# ----- running them all ----------------------------------------------------------------

def _point(folder: Path, action: Action, mode: str, n: int) -> KillPoint:
    exchange = seeded_exchange()
    action.prepare(exchange)
    close, late, where = dict(action.close), 0, folder / f"{action.name}-{mode}-{n}"
    if mode == LATE:
        close["late_window_seconds"], late = LATE_WINDOW, LOOKUPS_BEFORE_LOST
    if mode == UNDISTURBED:  # a trap past the last order: it never fires
        mode, n = "answered", 10_000
    return KillPoint(where, exchange, action.act, n, mode,
                     rules=action.rules, close=close, correction=action.correction,
                     late_after_lookups=late, linger=action.linger)


async def _run_all(folder: Path, points: list[tuple[str, str, int]]
                   ) -> dict[tuple[str, str, int], Ending | BaseException]:
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(key: tuple[str, str, int]) -> Ending | BaseException:
        name, mode, n = key
        async with gate:
            try:
                return await _point(folder, ACTIONS[name], mode, n).run()
            except Exception as exc:  # judged by its own test
                return exc

    async with bot_launcher():
        endings = await asyncio.gather(*(one(key) for key in points))
    return dict(zip(points, endings, strict=True))


def _selected(request: pytest.FixtureRequest) -> list[tuple[str, str, int]]:
    """The runs the selected tests of this module judge (all of them, unless -k chose)."""
    keys = set()
    for item in request.session.items:
        spec = getattr(item, "callspec", None)
        if item.module is not request.module or spec is None:
            continue
        params = spec.params
        keys.add((params["name"], params.get("mode", UNDISTURBED), params.get("n", 0)))
    return [point for point in POINTS if point in keys]


# Under pytest-xdist every test of this module goes to one worker (tests/conftest.py,
# ONE_WORKER), so this runs all kill points once, not once per worker.
@pytest.fixture(scope="module")
def endings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> dict[tuple[str, str, int], Ending | BaseException]:
    began, points = time.monotonic(), _selected(request)
    result = asyncio.run(_run_all(tmp_path_factory.mktemp("kills"), points))
    print(f"\n{len(points)} runs of the bot in {time.monotonic() - began:.1f} s")
    return result


def ending_of(endings: dict, name: str, mode: str, n: int) -> Ending:
    ending = endings[(name, mode, n)]
    if isinstance(ending, BaseException):
        raise ending
    return ending


# ----- what the exchange and the journal must hold -------------------------------------

@dataclass(slots=True)
class Verdict:
    problems: list[str] = field(default_factory=list)
    increases: int = 0

    def check(self, ok: bool, problem: str, *, increase: bool = False) -> None:
        if not ok:
            self.problems.append(problem)
            self.increases += increase


def judge(action: Action, ending: Ending) -> Verdict:
    verdict = Verdict()
    journal = ending.journal
    verdict.check(ending.duplicates == 0, "duplicate orders: " + ", ".join(
        f"{cid} x{n}" for (_, cid), n in ending.real_orders.items() if n > 1))
    verdict.check(not ending.unjournaled(), f"orders no step journaled: {ending.unjournaled()}")
    verdict.check(bool(journal.actions), "no action journaled")
    verdict.check(journal.settled, "not ended in the journal: " + ", ".join(
        f"action {a['id']} {a['kind']} {a['state']}" for a in journal.actions) + "; steps "
        + ", ".join(f"{s['seq']} {s['state']}" for s in journal.steps))
    venue = {o.client_id: o for o in ending.exchange.orders.values()}
    for step in journal.steps:  # the journal says what the venue did
        order = venue.get(step["client_id"])
        filled = order.filled_size if order is not None else D(0)
        said = step["state"]
        if said in ("failed", "skipped"):
            verdict.check(filled == 0, f"step {step['seq']} journaled {said} "
                          f"({step['error_message']}), but its order filled {filled} at the venue")
        elif said == "final":
            told = D(step["result"].get("filled_size") or "0")
            verdict.check(told == filled, f"step {step['seq']} journaled as filling {told}, "
                          f"the venue filled {filled}")
    for account, sides in HELD.items():  # nothing else moves
        for side, size in sides.items():
            if (account, side) != (action.account, action.side.value):
                verdict.check(ending.size(account, APT, Side(side)) == size,
                              f"{account} {side} changed to "
                              f"{ending.size(account, APT, Side(side))}", increase=True)
    orders = [o for o in ending.orders(action.account) if o.position_side is action.side]
    opens = [o for o in orders if not o.reduce_only]
    closes = [o for o in orders if o.reduce_only]
    before = HELD[action.account][action.side.value]
    after = ending.size(action.account, APT, action.side)
    opened = sum((o.filled_size for o in opens), D(0))
    closed = sum((o.filled_size for o in closes), D(0))
    verdict.check(after == before + opened - closed,
                  f"{after} held: {before} + {opened} opened - {closed} closed")
    kinds = {a["kind"] for a in journal.actions}
    if action.name == "correction":
        judge_correction(verdict, ending, opens, after)
    elif action.name in ("close", "take_profit", "take_profit_batches"):
        planned = D(30)  # /close APT 30; tier 1: 30 % of 100
        verdict.check(not opens, f"a close opened: {[o.client_id for o in opens]}",
                      increase=True)
        verdict.check(all(o.side is OrderSide.SELL for o in closes), "a close bought",
                      increase=True)
        verdict.check(after <= before, f"the position grew: {before} -> {after}",
                      increase=True)
        verdict.check(closed <= planned, f"closed {closed} of a close of {planned}")
        verdict.check(sum((o.size for o in closes), D(0)) <= planned,
                      f"orders for {sum((o.size for o in closes), D(0))} of {planned}")
        kind = "close" if action.name == "close" else "take_profit"
        # A tier whose close never reached the venue (nothing filled) is given back and
        # fires again at the next run: earlier actions of a tier may only have failed.
        earlier = journal.actions[:-1]
        verdict.check(kinds == {kind} and (len(journal.actions) == 1 or (
            kind == "take_profit" and all(a["state"] == "failed" for a in earlier))),
                      f"actions {[(a['kind'], a['state']) for a in journal.actions]}")
        state = "done" if closed == planned else "partial" if closed else "failed"
        verdict.check(bool(journal.actions) and journal.actions[-1]["state"] == state,
                      f"action {[a['state'] for a in journal.actions]} with {closed} of "
                      f"{planned} closed at the venue")
    else:
        verdict.check(kinds == {action.name} and len(journal.actions) == 1,
                      f"actions {[a['kind'] for a in journal.actions]}")
        record = (journal.actions or [{"plan": {}, "state": None}])[0]
        plan = record["plan"]
        open_size = D(plan.get("open_size", "0"))
        verdict.check(opened <= open_size,
                      f"opened {opened} of a planned {open_size}", increase=True)
        verdict.check(sum((o.size for o in opens), D(0)) <= open_size,
                      f"open orders for {sum((o.size for o in opens), D(0))} of {open_size}",
                      increase=True)
        inst = ending.exchange.instruments[APT]
        if action.name == "supermaintain":
            fills = [f for f in ending.exchange.account_fills(action.account)
                     if f.client_id in {o.client_id for o in opens}]
            price = min((f.price for f in fills), default=D(plan.get("price", "1")))
            kept = keep_size_for_margin(D(plan["target"]), price, D(plan["leverage"]), inst)
            exact = opened - final_close_super(
                opened=opened, price=sum((f.price * f.size for f in fills), D(0)) / opened
                if opened else price, target=D(plan["target"]), leverage=D(plan["leverage"]),
                inst=inst)
        else:
            kept = open_size - final_close_normal(
                opened=open_size, keep_share_pct=D(plan.get("keep_share_pct", "8")), inst=inst)
            exact = opened - final_close_normal(
                opened=opened, keep_share_pct=D(plan.get("keep_share_pct", "8")), inst=inst)
        verdict.check(after <= (kept if record["state"] == "done" else max(open_size, before)),
                      f"{after} held after a {record['state']} maintenance that keeps {kept}",
                      increase=True)
        verdict.check(record["state"] == "done",
                      f"the maintenance ended {record['state']}: {record.get('error')}")
        verdict.check(record["state"] != "done" or after == exact,
                      f"{after} held, {exact} expected from {opened} opened")
    return verdict


def margin_moves(ending: Ending) -> tuple[list[D], list[D]]:
    """The margin moves the venue applied, and those the journal holds as done."""
    return ([-w.amount for w in ending.margin_writes if w.landed],
            [D(s["params"]["amount"]) for s in ending.journal.steps
             if s["kind"] == "margin_out" and s["state"] == "final"])


def judge_correction(verdict: Verdict, ending: Ending, opens: list[Any], after: D) -> None:
    """One correction, done: 10x, 20 ct, 10.4 USDT of margin; nothing opened; every margin
    move the venue applied is one the journal has, once — none sent twice."""
    journal = ending.journal
    verdict.check(not opens, f"a correction opened: {[o.client_id for o in opens]}",
                  increase=True)
    verdict.check([(a["kind"], a["state"]) for a in journal.actions] == [("correction", "done")],
                  f"actions {[(a['kind'], a['state'], a['error']) for a in journal.actions]}")
    [position] = [p for p in ending.exchange.positions("sub1") if p.side is Side.LONG] or [None]
    held = (after, position.leverage, position.margin) if position else None
    verdict.check(held == (D(20), D(10), D("10.4")),
                  f"held (size, leverage, margin) {held}, not (20, 10, 10.4)")
    moved, journaled = margin_moves(ending)
    verdict.check(moved == journaled, f"margin moved at the venue {moved}, journaled {journaled}")
    verdict.check(all(w.amount < 0 for w in ending.margin_writes), "margin was added",
                  increase=True)


def _report(ending: Ending, verdict: Verdict) -> str:
    steps = "; ".join(f"a{s['action_id']} s{s['seq']} {s['state']} {s['client_id']}"
                      for s in ending.journal.steps)
    placed = "; ".join(f"{p.client_id} known={p.known} landed={p.landed}"
                       for p in ending.placements)
    return (f"{ending.name}: " + "; ".join(verdict.problems)
            + f"\nsteps: {steps}\nplacements: {placed}\nbot's log:\n{ending.stderr[-3000:]}")


# ----- the tests -----------------------------------------------------------------------

@pytest.mark.parametrize("name", list(ACTIONS))
def test_undisturbed(endings, name):
    """Without a kill the action ends done, and places exactly the orders killed at."""
    action = ACTIONS[name]
    ending = ending_of(endings, name, UNDISTURBED, 0)
    verdict = judge(action, ending)
    assert not verdict.problems, _report(ending, verdict)
    assert [a["state"] for a in ending.journal.actions] == ["done"]
    assert ending.writes == action.writes, _report(ending, verdict)


KILL_POINTS = [pytest.param(name, mode, n, id=f"{name}-{mode}-{n}")
               for name, mode, n in POINTS if mode != UNDISTURBED]


@pytest.mark.parametrize(("name", "mode", "n"), KILL_POINTS)
def test_killed_and_restarted(endings, figures, name, mode, n):
    """Killed at the n-th order placement, then started again: the action ends in the
    journal, and the exchange holds no duplicate and no size the action did not mean."""
    action = ACTIONS[name]
    ending = ending_of(endings, name, mode, n)
    assert ending.killed, f"{ending.name}: the trap never fired\n{ending.stderr[-3000:]}"
    figures("kill points")["tried"] += 1
    verdict = judge(action, ending)
    figures("orders")["duplicates"] += ending.duplicates
    figures("orders")["unintended increases"] += verdict.increases
    moved, journaled = margin_moves(ending)
    figures("margin moves")["sent twice"] += max(0, len(moved) - len(journaled))
    if not verdict.problems:
        figures("kill points")["recovered"] += 1
    assert not verdict.problems, _report(ending, verdict)
