"""The reliability suite's fault matrix (issue 11): every journaled action, crossed with
the ways OKX misbehaves, against the real bot.

Each scenario runs the whole bot in process (production handlers, executor, database),
driven through the local chat, trading OKX accounts through the real python-okx client
on the fake OKX server, with the paper engine behind it. One fault hits one chosen order
of the action (the action's first order; a close's second batch; a maintenance's opening
order, or a super maintenance's last close) and the action runs to its end: a live order
it left is followed in the background until it settles, a maintenance that stopped is
retried once from the chat, and an order of unknown fate is looked up by a restart.
Then the exchange is the judge:

- no duplicate order: one order per client id (a re-sent id the venue had finished with,
  or an order held in flight that lands after the bot sent it again, counts: the paper
  engine would answer those with the first order, OKX would place a second), and every
  order belongs to one journaled step;
- no unintended size increase: a close sends only reduce-only orders on the closing side
  and never grows a position; a maintenance opens at most its planned size in all;
- the journal matches the exchange: every order's state, filled size and fills, every
  step ended, the action's state from what filled (done, partial, failed), the
  maintenance count, the take-profit tier fired only if it closed something;
- the user was told: a final report whose filled size is the exchange's, never
  "Something went wrong".

A scenario that reveals a bug stays in the matrix, failing, until the bug is fixed.

The figures: `fault scenarios` run, survived (and settled after a restart), `orders`
duplicates and unintended increases (both must stay 0).

Fast settings, so the module runs in about 90 s: rules.close as in CLOSE; set on the
running bot, a 0.25 s HTTP timeout, quick read retries and at most 0.05 s between
look-ups (`tune`); a good-till-time batch cancelled 0.2 s after its expiry; every
scenario starting from a copy of a migrated database and the python-okx clients sharing
one TLS context (`fast`, `migrated`).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import bot.closing
import bot.execution
from bot.domain import Fill, Order, Side
from bot.venues.okx.codes import okx_error
from bot.venues.okx.venue import OkxVenue
from bot.venues.paper.demo import new_exchange
from bot.venues.paper.engine import PaperExchange
from bot.venues.retry import RetryPolicy
from db import Database
from tests.botkit import make_config, running
from tests.fakes import okx_routes_trade
from tests.fakes.okx_accounts import CREDENTIALS, KEYS
from tests.fakes.okx_server import FakeOkxServer
from tests.fakes.okx_wire import Ctx, clean, error_answer

APT = "APT-USDT-SWAP"
ACCOUNT = "main"
ORDER, CANCEL, FILLS = "/api/v5/trade/order", "/api/v5/trade/cancel-order", "/api/v5/trade/fills"

# Fast settings: a request without an answer is a timeout after HTTP_TIMEOUT; reads retry
# quickly; an unfilled market order is cancelled after 1 s, a good-till-time batch 0.2 s
# after its expiry; an order of unknown fate is looked up for 0.2 s.
HTTP_TIMEOUT = 0.25
CLOSE = {"follow_poll_seconds": "0.01", "late_window_seconds": "0.2",
         "follow_timeout_seconds": 1, "batch_interval_seconds": "0", "gtt_seconds": 1}
FAST_READS = RetryPolicy(attempts=4, first_delay=0.01, max_delay=0.05)
POLL_MAX_SECONDS = 0.05
GTT_GRACE_SECONDS = 0.2
LATE_AFTER_MISSES = 3  # a late order lands once the bot's look-ups missed it this often
OUTAGE = 6  # failed answers in a row: more than one read's own retries
OUTLASTING = 40  # failed answers in a row: more than the executor's retries of them
SETTLE_SECONDS = 20.0


# -- the actions ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    kind: str  # the journal's action kind
    target: int  # the fault hits the order of this step (the `s<seq>` of its client id)
    size: D  # a close: contracts to close; a maintenance: contracts to open
    keep: D = D(0)  # a maintenance: contracts held once done

    @property
    def maintenance(self) -> bool:
        return self.kind in ("maintain", "supermaintain")


ACTIONS = {a.name: a for a in (
    Action("close_market", "close", 1, D(40)),
    Action("close_batches", "close", 2, D(40)),  # thin book: 5 batches of 8, the 2nd
    Action("maintain", "maintain", 20, D(1000), keep=D(80)),  # 100, open 1000, keep 8 %
    Action("supermaintain", "supermaintain", 30, D(200), keep=D(20)),  # open 100 USDT, keep 10
    Action("take_profit", "take_profit", 1, D(30)),  # tier 1: 30 % of 100
)}

FAULTS = [
    "timeout_before_accept",  # the request never reaches the engine; the bot times out
    "timeout_after_accept",  # placed (and filled), but the answer never comes
    "late_execution",  # held in flight; lands after the bot's look-ups missed it 3 times
    "very_late_execution",  # lands only after the action gave up on it
    "5xx_on_place",  # 503 / 50001 to the placement: not placed
    "5xx_on_lookups",  # HTTP 500 / 50026 to its next 6 look-ups
    "5xx_on_fill_reads",  # HTTP 500 / 50026 to the next 6 reads of its fills
    "5xx_on_fill_reads_outlasting",  # ... to the next 40: beyond the retries
    "429_on_place",  # HTTP 429 / 50011 to the placement, twice
    "429_on_lookups",  # HTTP 429 / 50011 to its next 6 look-ups
    # the cancel faults hit an order that never fills, cancelled when the bot stops waiting
    "cancel_timeout",  # never fills; its first cancel never reaches the engine
    "cancel_lost_answer",  # never fills; its first cancel is applied, the answer lost
    "cancel_5xx",  # never fills; 3 cancels answered 50001
    "cancel_5xx_outlasting",  # never fills; 12 cancels answered 50001: beyond the retries
    "partial_fill",  # the book holds 2/5 of it; the rest never fills
    "reject_51008",
    "reject_51020",
    "reject_51112",
]


# -- the server: the fake OKX server with a fault aimed at one order --------------------


@dataclass(slots=True)
class Held:
    """A placement held in flight: not at the engine (yet)."""

    account: str
    body: dict[str, Any]
    lands: str  # "never", "after_misses" (of the bot's look-ups) or "very_late"
    misses: int = 0
    landed: bool = False


@dataclass(slots=True)
class Ledger:
    """What a real OKX would have done that the paper engine hides."""

    duplicates: list[str] = field(default_factory=list)  # client ids placed twice
    duplicate_opens: list[str] = field(default_factory=list)  # ... of opening orders
    hits: list[str] = field(default_factory=list)  # the fault, each time it acted


class FaultyOkx(FakeOkxServer):
    """The fake OKX server, aiming `fault` at the order of step `target` (client ids end
    in `s<seq>`): at its first placement request, its reads and its cancels."""

    def __init__(self, exchange: PaperExchange, fault: str, target: int) -> None:
        super().__init__(exchange, KEYS, credentials=CREDENTIALS, demo=False)
        self.fault, self.target = fault, target
        self.target_id: str | None = None
        self.held: dict[str, Held] = {}
        self.ledger = Ledger()
        self.outages: dict[str, list[str | int]] = {}  # path -> [code, answers left]
        self._cancel_fault_used = False

    async def _handle(self, request: web.Request) -> web.Response:
        if request.path == ORDER and request.method == "POST":
            return await self._placement(request)
        if request.method == "GET" and request.path in self.outages:
            answer = self._outage_answer(request)
            if answer is not None:
                return answer
        if request.path == ORDER and request.method == "GET":
            return await self._lookup(request)
        if request.path == CANCEL and request.method == "POST":
            return await self._cancel(request)
        return await super()._handle(request)

    async def _body(self, request: web.Request) -> tuple[str, dict[str, Any]]:
        raw = await request.text()  # aiohttp keeps the body: the server reads it again
        body = clean(json.loads(raw)) if raw else {}
        return self.keys.get(request.headers.get("OK-ACCESS-KEY", ""), ""), body

    # -- placement --------------------------------------------------------------------

    async def _placement(self, request: web.Request) -> web.Response:
        account, body = await self._body(request)
        client_id = str(body.get("clOrdId", ""))
        venue_id = self.exchange.client_ids.get((account, client_id))
        if venue_id is not None and self.exchange.orders[venue_id].state.is_final:
            # OKX refuses a client id only while its order is pending: this is a second order.
            self._duplicate(client_id, body)
        seq = re.search(r"s(\d+)$", client_id)
        if self.target_id is not None or not seq or int(seq.group(1)) != self.target:
            return await super()._handle(request)
        self.target_id = client_id
        self.ledger.hits.append(self.fault)
        return await self._faulty_placement(request, account, body)

    async def _faulty_placement(self, request: web.Request, account: str,
                                body: dict[str, Any]) -> web.Response:
        fault, faults, client_id = self.fault, self.exchange.faults, str(body["clOrdId"])
        if fault in ("timeout_before_accept", "late_execution", "very_late_execution"):
            self.held[client_id] = Held(account, body, {
                "timeout_before_accept": "never", "late_execution": "after_misses",
                "very_late_execution": "very_late"}[fault])
            await self._hang()
            return web.json_response({}, status=503)
        arm: dict[str, Callable[[], None]] = {
            "timeout_after_accept": lambda: faults.timeout_after_accept(1, account=account),
            "5xx_on_place": lambda: self.fail_next("50001", path=ORDER, method="POST"),
            "5xx_on_lookups": lambda: self._outage(ORDER, "50026"),
            "5xx_on_fill_reads": lambda: self._outage(FILLS, "50026"),
            "5xx_on_fill_reads_outlasting": lambda: self._outage(FILLS, "50026", OUTLASTING),
            "429_on_place": lambda: self.fail_next("50011", path=ORDER, method="POST",
                                                   times=2),
            "429_on_lookups": lambda: self._outage(ORDER, "50011"),
            "reject_51008": lambda: faults.reject_orders("51008", account=account),
            "reject_51020": lambda: faults.reject_orders("51020", account=account),
            "reject_51112": lambda: faults.reject_orders("51112", account=account),
        }
        if fault in arm:
            arm[fault]()
            return await super()._handle(request)
        if fault == "partial_fill":
            return await self._partly_filled(request, account, body)
        assert fault.startswith("cancel_"), fault
        faults.never_fill(account)
        try:
            return await super()._handle(request)
        finally:
            faults.never_fill(account, enabled=False)

    async def _partly_filled(self, request: web.Request, account: str,
                             body: dict[str, Any]) -> web.Response:
        """The book holds 2/5 of the order within its limit price, nothing more; what
        does not fill at once never fills (the rest of a limit order rests, stuck)."""
        market = self.exchange.market
        size, limit, symbol = D(str(body["sz"])), D(str(body["px"])), str(body["instId"])
        part = (size * 2 / 5).to_integral_value(rounding="ROUND_FLOOR")
        bids, asks = market.book(symbol, 10)
        levels = {"bids": [(lv.price, lv.size) for lv in bids],
                  "asks": [(lv.price, lv.size) for lv in asks]}
        if body["side"] == "sell":  # at the best bid, or at the limit if that is lower
            levels["bids"] = [(max([limit] + [p for p, _ in levels["bids"][:1]]), part)]
        else:
            levels["asks"] = [(min([limit] + [p for p, _ in levels["asks"][:1]]), part)]
        saved = market._books.get(symbol)
        market.set_book(symbol, **levels)
        try:
            return await super()._handle(request)
        finally:
            if saved is None:
                market._books.pop(symbol, None)
            else:
                market._books[symbol] = saved
            venue_id = self.exchange.client_ids.get((account, str(body["clOrdId"])))
            if venue_id is not None:
                self.exchange.orders[venue_id].stuck = True

    def _outage(self, path: str, code: str, times: int = OUTAGE) -> None:
        """The next `times` reads of `path` about the target order fail with `code`."""
        self.outages[path] = [code, times]

    def _outage_answer(self, request: web.Request) -> web.Response | None:
        code, left = self.outages[request.path]
        account = self.keys.get(request.headers.get("OK-ACCESS-KEY", ""), "")
        venue_id = self.exchange.client_ids.get((account, self.target_id or ""))
        about = {request.query.get("clOrdId"), request.query.get("ordId")}
        if not left or not ({self.target_id, venue_id} - {None}) & about:
            return None
        self.outages[request.path][1] = int(left) - 1
        self.ledger.hits.append(self.fault)
        return self._reply(error_answer(okx_error(str(code))))

    def _duplicate(self, client_id: str, body: dict[str, Any]) -> None:
        self.ledger.duplicates.append(client_id)
        if str(body.get("reduceOnly", "")).lower() != "true":
            self.ledger.duplicate_opens.append(client_id)

    def land(self, client_id: str) -> None:
        """A held placement reaches the engine now, as the venue executes it late."""
        held = self.held[client_id]
        if held.landed:
            return
        held.landed = True
        if (held.account, client_id) in self.exchange.client_ids:
            self._duplicate(client_id, held.body)  # sent again meanwhile: a second order
            return
        ctx = Ctx(self.exchange, held.account, held.body, notes=self._state.notes)
        okx_routes_trade._place(ctx, held.body)

    def land_very_late(self) -> None:
        for client_id, held in self.held.items():
            if held.lands == "very_late":
                self.land(client_id)

    # -- look-ups and cancels ----------------------------------------------------------

    async def _lookup(self, request: web.Request) -> web.Response:
        response = await super()._handle(request)
        held = self.held.get(request.query.get("clOrdId", ""))
        if held is not None and held.lands == "after_misses" and not held.landed:
            assert response.text is not None
            if json.loads(response.text).get("code") == "51603":
                held.misses += 1
                if held.misses >= LATE_AFTER_MISSES:
                    self.land(request.query["clOrdId"])
        return response

    async def _cancel(self, request: web.Request) -> web.Response:
        _, body = await self._body(request)
        if (not self.fault.startswith("cancel_") or self._cancel_fault_used
                or body.get("clOrdId") != self.target_id):
            return await super()._handle(request)
        self._cancel_fault_used = True
        self.ledger.hits.append(self.fault)
        if self.fault == "cancel_timeout":
            await self._hang()
            return web.json_response({}, status=503)
        if self.fault == "cancel_lost_answer":
            response = await super()._handle(request)
            await self._hang()
            return response
        self.fail_next("50001", path=CANCEL, method="POST",
                       times=3 if self.fault == "cancel_5xx" else 12)
        return await super()._handle(request)


# -- the exchange and the bot ------------------------------------------------------------


def fresh_exchange() -> PaperExchange:
    """main holds APT long 100 @ 5 (10x, 50 USDT margin), the mark held at 5."""
    ex = new_exchange()
    ex.market.freeze()
    ex.set_mark(APT, D("5"))
    ex.add_account("main", D("3000"))
    ex.add_account("sub1", D("100"))
    ex.seed_position("main", APT, Side.LONG, D(100), D(5), D(10))
    return ex


def config_for(tmp_path, url: str, take_profit: bool):
    config = make_config(tmp_path, okx_url=url, close=CLOSE, rules={
        "take_profit": take_profit, "correction": False, "watcher": "off"})
    config.rules.take_profit.interval_seconds = 3600  # it runs when the test says so
    return config


def tune(app) -> None:
    """Fast settings the config does not reach: the HTTP timeout, read retries, the
    longest wait between look-ups."""
    for venue in app.venues.values():
        assert isinstance(venue, OkxVenue)
        venue.timeout_seconds = HTTP_TIMEOUT
        venue._retry = FAST_READS
    app.executor.follow_settings = replace(app.executor.follow_settings,
                                           poll_max_seconds=POLL_MAX_SECONDS)


async def trade_through(exchange: PaperExchange) -> None:
    """The market trades through resting limit orders at their price (stuck ones aside)."""
    while True:
        await asyncio.sleep(0.05)
        exchange.set_mark(APT, exchange.market.mark(APT))


THIN_BOOK = {"bids": [(D("5.000"), D(4)), (D("4.000"), D(1000))],
             "asks": [(D("5.001"), D(1000))]}


async def drive(action: Action, app, chat, exchange: PaperExchange) -> int | None:
    """Run the action as the user (or the job) starts it; returns the id of the message
    that reports it, if it has one."""
    if action.name == "take_profit":
        await wait_for(lambda: job_ran(app, "take_profit:main"), "the job's first run")
        exchange.set_mark(APT, D("5.13"))  # +26 %: tier 1
        await app.jobs.run_now("take_profit:main")
        return None
    if action.name == "close_batches":
        exchange.market.set_book(APT, **THIN_BOOK)
    command = {"close_market": "/close APT 40 main", "close_batches": "/close APT 40 main",
               "maintain": "/maintain APT main", "supermaintain": "/supermaintain APT main"}
    await chat.ask(command[action.name])
    question = chat.transcript[-1]
    assert question.buttons == ["Confirm", "Cancel"], question.text
    if action.name == "close_batches":
        assert "5 reduce-only limit orders at 4.975" in question.text
    elif action.name == "close_market":
        assert "market order" in question.text
    await chat.choose("Confirm", timeout=60)
    return question.message_id


def job_ran(app, name: str) -> bool:
    return any(s.name == name and s.runs for s in app.jobs.statuses())


async def wait_for(condition: Callable[[], bool], what: str,
                   seconds: float = SETTLE_SECONDS) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def settled(app) -> None:
    await asyncio.wait_for(app.ops.followups.settled(), SETTLE_SECONDS)


def unfinished(app) -> bool:
    return bool(app.store.unfinished_steps() or app.store.unfinished_actions())


# -- the verdict ----------------------------------------------------------------------


@dataclass(slots=True)
class Verdict:
    duplicates: int = 0
    increases: int = 0
    problems: list[str] = field(default_factory=list)

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)


def held(exchange: PaperExchange) -> D:
    return sum((p.size for p in exchange.positions(ACCOUNT) if p.side is Side.LONG), D(0))


def maintenance_count(app) -> int:
    return int(app.store.get_rule_state(ACCOUNT, APT, "long", "maintenance").get("count", 0))


def filled_by(exchange: PaperExchange, app, action_id: int) -> D:
    ids = {st.client_id for st in app.store.action_with_steps(action_id).steps}
    return sum((o.filled_size for o in exchange.orders.values() if o.client_id in ids), D(0))


def opening(order: Order | Fill) -> bool:
    return order.side is order.position_side.open_order_side


# -- what the user was told ----------------------------------------------------------

NUMBER = r"([0-9.]+)"


def stated_filled(action: Action, text: str) -> D | None:
    """The filled size a final message about a close states; None if it is not one."""
    if (m := re.search(rf"has ended: [^,]+, {NUMBER} of {NUMBER} ct closed", text)):
        return D(m.group(1))
    if action.kind == "take_profit":
        if text.startswith("🎯 Take-profit tier 1"):
            return D(re.search(rf"→ closed {NUMBER} ct", text).group(1))
        return D(0) if text.startswith("❌ Take-profit tier 1 not executed") else None
    if text.startswith(("✅ Closed", "⚠️ Partly closed")):
        return D(re.search(rf" on main: {NUMBER} ct", text).group(1))
    return D(0) if text.startswith("❌ Not closed") else None


def check_told(v: Verdict, action: Action, app, chat, message_id: int | None,
               exchange: PaperExchange, action_id: int) -> None:
    """The user's last word about the action is final and states what filled."""
    shown = [e.text for e in chat.transcript if e.kind in ("sent", "edited")]
    v.check(not [t for t in shown if t.startswith("Something went wrong")],
            f"an internal error was shown: {shown}")
    if action.maintenance:
        text = chat.messages[message_id]["text"]
        final = text.startswith(("🔧 Maintenance of", "🔧 Super maintenance of")) and \
            "⏳" not in text
        v.check(final, f"not a final maintenance report: {text!r}")
        if final:
            count = int(re.search(r"maintenance count (\d+)", text).group(1))
            left = D(re.search(rf"left {NUMBER} ct", text).group(1))
            v.check((count, left) == (maintenance_count(app), held(exchange)),
                    f"told count {count}, left {left}; it is {maintenance_count(app)}, "
                    f"{held(exchange)}: {text!r}")
            v.check(("❌ Step" in text) == (count == 0), f"done or not? {text!r}")
        return
    if message_id is None:  # a rule's close: the alerts about it
        said = [t for t in shown if t.startswith(("🎯 Take-profit", "❌ Take-profit",
                                                  "🔁 Take-profit"))]
        text = said[-1] if said else "(no take-profit alert)"
    else:
        text = chat.messages[message_id]["text"]
    told, filled = stated_filled(action, text), filled_by(exchange, app, action_id)
    v.check(told == filled, f"told {told} filled, the venue filled {filled}: {text!r}")


def check_reconciled(v: Verdict, chat, exchange: PaperExchange) -> None:
    """After a restart, the alert says what became of each order looked up."""
    said = [e.text for e in chat.transcript if e.text.startswith("🔁 Unfinished orders")]
    v.check(bool(said), "the restart did not tell what it found")
    for line in "\n".join(said).splitlines()[1:]:
        client_id = line.split()[2].rstrip(":")
        venue_id = exchange.client_ids.get((ACCOUNT, client_id))
        if (m := re.search(rf": \w+, filled {NUMBER} of", line)):
            v.check(venue_id is not None and exchange.orders[venue_id].filled_size
                    == D(m.group(1)), f"told {line!r}")
        else:
            v.check("never placed" in line and venue_id is None, f"told {line!r}")


# -- the exchange as the judge -------------------------------------------------------


def judge(v: Verdict, action: Action, app, exchange: PaperExchange, server: FaultyOkx,
          action_id: int) -> None:
    store = app.store
    record = store.action_with_steps(action_id)
    steps = {st.client_id: st for st in record.steps}
    orders = [o.to_order() for o in exchange.orders.values()]
    # One order per client id (what OKX would have placed twice included), one order per
    # journaled step, none without a step.
    ids = [o.client_id for o in orders]
    v.duplicates = len(server.ledger.duplicates) + len(ids) - len(set(ids))
    v.check(v.duplicates == 0, f"duplicate orders: {server.ledger.duplicates}")
    v.check(set(ids) <= set(steps), f"orders without a journaled step: {set(ids) - set(steps)}")
    # No unintended increase: closes only reduce; a maintenance opens its plan, no more.
    fills = exchange.account_fills(ACCOUNT, APT)
    opened = sum((f.size for f in fills if opening(f)), D(0))
    position = peak = D(100)
    for f in fills:
        position += f.size if opening(f) else -f.size
        peak = max(peak, position)
    v.check(held(exchange) == position, "the fills and the position disagree")
    allowed = action.size if action.maintenance else D(0)
    v.increases = (len(server.ledger.duplicate_opens) + (opened > allowed)
                   + (peak > max(D(100), allowed)))
    if not action.maintenance:
        v.increases += sum(1 for o in orders if not o.reduce_only or opening(o))
    v.check(v.increases == 0, f"unintended increase: opened {opened} (allowed {allowed}), "
            f"peak {peak}, duplicate opens {server.ledger.duplicate_opens}")
    # The journal has every order, its fills and its step as the venue has them.
    for order in orders:
        row = store.get_order(ACCOUNT, order.client_id)
        journaled = (row.order.state, row.order.filled_size) if row else None
        v.check(journaled == (order.state, order.filled_size),
                f"{order.client_id}: journaled {journaled}, at the venue "
                f"{(order.state, order.filled_size)}")
        venue_fills = exchange.account_fills(ACCOUNT, client_id=order.client_id)
        journal_fills = store.fills_for_order(ACCOUNT, order.client_id)
        v.check(len(journal_fills) == len(venue_fills),
                f"{order.client_id}: {len(journal_fills)} fills journaled, "
                f"{len(venue_fills)} at the venue")
    v.check(all(o.state.is_final for o in orders),
            f"orders left live: {[o.client_id for o in orders if not o.state.is_final]}")
    v.check(all(st.state in ("final", "failed", "skipped") for st in record.steps),
            f"steps left open: {[(st.seq, st.state) for st in record.steps]}")
    # The action ends by what filled.
    filled = filled_by(exchange, app, action_id)
    if action.maintenance:  # the fault acts once: done, by itself or by the Retry
        v.check((record.state, maintenance_count(app)) == ("done", 1),
                f"maintenance {record.state}, count {maintenance_count(app)}")
        v.check((opened, held(exchange)) == (action.size, action.keep),
                f"opened {opened}, holds {held(exchange)}")
        return
    size = D(str(record.plan["size"]))
    expected = "done" if filled == size else "partial" if filled else "failed"
    v.check(record.state == expected, f"action {record.state}, {filled} of {size} filled")
    v.check(held(exchange) == D(100) - filled, f"holds {held(exchange)}, {filled} closed")
    if action.kind == "take_profit":
        # A tier that closed something stays fired; one whose order the venue refused, or
        # whose order certainly filled nothing, is given back (an order never found keeps
        # it: a missed tier costs less than a double).
        fired = app.store.get_rule_state(ACCOUNT, APT, "long", "take_profit").get("fired", 0)
        nothing = filled == 0 and all(
            st.state == "final" or (st.state == "failed" and st.error_code != "lost")
            for st in record.steps)
        v.check((filled > 0) <= (fired == 1) and nothing <= (fired == 0),
                f"tier 1 is {'fired' if fired else 'given back'} with {filled} filled")


def check_nothing_abandoned(v: Verdict, app) -> None:
    """Once the action and its follow-ups ended, an order the bot has seen is final in
    the journal: only one it never found waits for the next start."""
    for step in app.store.unfinished_steps():
        row = app.store.get_order(ACCOUNT, step.client_id)
        v.check(row is None, f"step {step.seq} ({step.client_id}) left {step.state} with its "
                f"order {row and row.order.state.value}: nobody follows it")


# -- the matrix ----------------------------------------------------------------------


@pytest.fixture
def fast(monkeypatch):
    """A good-till-time batch is cancelled 0.2 s after its expiry, not 30 s."""
    monkeypatch.setattr(bot.closing, "GTT_GRACE_SECONDS", GTT_GRACE_SECONDS)
    monkeypatch.setattr(bot.execution, "GTT_GRACE_SECONDS", GTT_GRACE_SECONDS)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    """A database at the schema's head: each scenario starts from a copy (migrating a new
    file takes a fifth of a second at every start)."""
    path = tmp_path_factory.mktemp("schema") / "bot.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    db.dispose()
    return path


SCENARIOS = [pytest.param(a, f, id=f"{a}-{f}") for a in ACTIONS for f in FAULTS]


@pytest.mark.parametrize(("action_name", "fault"), SCENARIOS)
async def test_fault_matrix(tmp_path, action_name, fault, figures, fast, migrated):
    action, v = ACTIONS[action_name], Verdict()
    scenarios = figures("fault scenarios")
    scenarios["run"] += 1
    shutil.copyfile(migrated, tmp_path / "bot.db")
    exchange = fresh_exchange()
    async with FaultyOkx(exchange, fault, action.target) as server:
        config = config_for(tmp_path, server.base_url, action.kind == "take_profit")
        async with running(config, prepare=tune) as (app, chat):
            mover = asyncio.create_task(trade_through(exchange)) \
                if action.name == "close_batches" else None
            try:
                message_id = await drive(action, app, chat, exchange)
                await settled(app)
                assert server.ledger.hits, f"{fault} never acted"
                assert all(h.landed for h in server.held.values()
                           if h.lands == "after_misses"), "the late order never landed"
                [action_id] = [a.id for a in app.store.recent_actions(5)
                               if a.kind == action.kind]
                check_told(v, action, app, chat, message_id, exchange, action_id)
                check_nothing_abandoned(v, app)
                server.land_very_late()  # the venue executes it now, after all
                if action.maintenance and app.store.action_with_steps(action_id).state != "done":
                    await chat.choose("Retry", timeout=60)  # resumes from the failed step
                    await settled(app)
                    check_told(v, action, app, chat, message_id, exchange, action_id)
                restart = unfinished(app)
                if not restart:
                    judge(v, action, app, exchange, server, action_id)
            finally:
                if mover is not None:
                    mover.cancel()
        if restart:  # an order of unknown fate: the next start looks it up
            scenarios["settled after a restart"] += 1
            config = config_for(tmp_path, server.base_url, False)
            async with running(config, prepare=tune) as (app, chat):
                await wait_for(lambda: not unfinished(app), "the restart's reconciliation")
                await settled(app)
                check_reconciled(v, chat, exchange)
                judge(v, action, app, exchange, server, action_id)
        assert server.errors == []
    orders = figures("orders")
    orders["duplicates"] += v.duplicates
    orders["unintended increases"] += v.increases
    assert v.problems == []
    scenarios["survived"] += 1
