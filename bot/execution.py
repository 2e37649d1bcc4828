"""One execution path for every order: journal the step, send it with a client id derived
from the step, follow it to a final state, record what the venue says happened.

An accepted order is not a filled order (seed 000). After a timeout or any answer that
leaves the outcome unknown, the order is looked up by its client id before anything else;
a step that already has an order never gets a second one. An order the venue cannot find
becomes *lost* only after several look-ups spread over time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from bot.domain import (
    ZERO,
    Fill,
    Order,
    OrderRequest,
    OrderSide,
    OrderState,
    OrderType,
    Side,
    TimeInForce,
)
from bot.venues.base import OrderUnknown, RateLimited, Venue, VenueError, VenueUnavailable

log = logging.getLogger(__name__)

GTT_GRACE_SECONDS = 30  # follow a GTT order this long past its expiry before cancelling
LOOKUPS_BEFORE_LOST = 4  # an unknown order is looked up this many times before "lost"
LOOKUPS_THROUGH_OUTAGE = 8  # look-ups answered by rate limits or outages before giving up
POLLS_AFTER_CANCEL = 10  # polls for the final state of an order we cancelled
MAX_BACKGROUND_POLL_SECONDS = 60  # an order followed in the background: the longest wait
PLACE_ATTEMPTS = 3


class Journal(Protocol):
    """Where steps, orders and fills are recorded (db.aio.AsyncStore in the bot)."""

    async def add_step(self, action_id: int, seq: int, kind: str, params: Mapping[str, Any],
                       client_id: str | None = None, *, planned: bool = False) -> int: ...

    async def update_step(self, step_id: int, **fields: Any) -> None: ...

    async def action_with_steps(self, action_id: int) -> Any: ...

    async def upsert_order(self, account: str, order: Order, action_id: int | None = None,
                           step_id: int | None = None) -> int: ...

    async def record_fills(self, account: str, fills: Sequence[Fill]) -> int: ...


# Hands an order still live to whoever follows it in the background:
# (venue, action id, step id, order).
Adopt = Callable[[Venue, int, int, Order], None]


@dataclass(frozen=True, slots=True)
class Tracked:
    """One look at a resting order: as the venue has it (None: not found this time), the
    fills seen for the first time, and whether it is now declared lost."""

    order: Order | None
    new_fills: int
    lost: bool


class OrderFateUnknown(VenueUnavailable):
    """An order sent with an unknown outcome is not at the venue, but could still land:
    it is not sent again; the next start (or a retry past the late window) looks again."""

    kind = "fate_unknown"


class OrderLost(VenueError):
    """The venue never heard of an order we may have sent, after several look-ups."""

    kind = "order_lost"


@dataclass(frozen=True, slots=True)
class FollowSettings:
    timeout_seconds: float = 60  # how long a market order may stay open before we cancel
    poll_seconds: float = 0.5  # first wait between look-ups; grows to poll_max_seconds
    poll_max_seconds: float = 5
    backoff_seconds: float = 1  # first wait after a rate limit or an outage
    # How long an order sent with an unknown outcome (a timeout) may still land at the
    # venue: it is looked up, never sent again, until this much time has passed.
    late_window_seconds: float = 30


@dataclass(slots=True)
class Outcome:
    """What one order step ended as. `order` is None when the venue never took it."""

    client_id: str
    request: OrderRequest
    order: Order | None = None
    fills: list[Fill] = field(default_factory=list)
    error: VenueError | None = None
    # Why the order's fills could not be read (an outage that outlasted the retries):
    # its fee and PnL are not known yet, so the step is not over.
    fills_unread: VenueError | None = None

    @property
    def filled_size(self) -> Decimal:
        return self.order.filled_size if self.order else ZERO

    @property
    def unfilled_size(self) -> Decimal:
        return self.request.size - self.filled_size

    @property
    def fee(self) -> Decimal:
        return sum((f.fee for f in self.fills), ZERO)

    @property
    def realized_pnl(self) -> Decimal:
        return sum((f.realized_pnl for f in self.fills), ZERO)

    @property
    def average_price(self) -> Decimal | None:
        return self.order.average_price if self.order else None

    @property
    def state(self) -> OrderState | None:
        return self.order.state if self.order else None

    @property
    def refused(self) -> bool:
        """The venue definitively did not take the order (not an outage, not unknown)."""
        return self.order is None and self.error is not None and \
            not isinstance(self.error, RateLimited | VenueUnavailable)

    @property
    def settled(self) -> bool:
        """Nothing more can happen to this order, and all of it is journaled: it is final
        with its fills read, or it was refused."""
        return self.refused or (self.order is not None and self.order.state.is_final
                                and self.fills_unread is None)


class OutcomeTotals:
    """What the orders of a step or an action add up to (`outcomes`: theirs)."""

    __slots__ = ()
    outcomes: list[Outcome]

    @property
    def filled_size(self) -> Decimal:
        return sum((o.filled_size for o in self.outcomes), ZERO)

    @property
    def fee(self) -> Decimal:
        return sum((o.fee for o in self.outcomes), ZERO)

    @property
    def realized_pnl(self) -> Decimal:
        return sum((o.realized_pnl for o in self.outcomes), ZERO)

    @property
    def average_price(self) -> Decimal | None:
        """Weighted by what each order filled; None when nothing filled."""
        priced = [(o.filled_size, o.average_price) for o in self.outcomes
                  if o.filled_size and o.average_price]
        total = sum((q for q, _ in priced), ZERO)
        return sum((q * p for q, p in priced), ZERO) / total if total else None

    @property
    def errors(self) -> list[str]:
        return [str(o.error) for o in self.outcomes if o.error is not None]


def client_id_for(prefix: str, action_id: int, seq: int) -> str:
    """OKX: at most 32 letters and digits. The prefix is this installation's, so a fresh
    database can never reuse an id the venue already knows from an earlier one."""
    return f"{prefix}a{action_id}s{seq}"


class Executor:
    def __init__(self, journal: Journal, *, client_prefix: str,
                 follow: FollowSettings | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.journal = journal
        self.client_prefix = client_prefix
        self.follow_settings = follow or FollowSettings()
        self.sleep = sleep
        self.clock = clock  # the journal's clock: steps are stamped with it

    # -- one order step --------------------------------------------------------------

    async def order_step(self, venue: Venue, action_id: int, seq: int, kind: str,
                         request: OrderRequest, *, follow_timeout: float | None = None,
                         rest: bool = False) -> Outcome:
        """Journal, send and follow one order. `request.client_id` is replaced by the id
        derived from (action, seq); if the step exists already (a retry, a restart), the
        order it sent is looked up and followed instead of sending another. An order meant
        to `rest` (a grid level) is sent and not followed: `track` looks at it each run."""
        client_id = client_id_for(self.client_prefix, action_id, seq)
        request = _with_client_id(request, client_id)
        action = await self.journal.action_with_steps(action_id)
        step = next((s for s in action.steps if s.seq == seq), None) if action else None
        if step is None:
            step_id = await self.journal.add_step(action_id, seq, kind, _params(request), client_id)
            last_sent = None
        elif step.state == "planned":  # its first attempt: nothing to look up
            step_id, last_sent = step.id, None
            await self.journal.update_step(step_id, state="intended")
        else:
            step_id, last_sent = step.id, step.updated_at
        outcome = Outcome(client_id, request)
        try:
            order = await (self._place(venue, replace(request, fresh=True))
                           if last_sent is None
                           else self._find_or_place(venue, request, last_sent))
            await self.journal.update_step(step_id, state="sent")
            await self.journal.upsert_order(venue.name, order, action_id, step_id)
            outcome.order = order if rest else await self.follow(venue, order, follow_timeout)
        except VenueError as exc:
            outcome.error = exc
            outcome.order = await self._last_known(venue, request)
        if outcome.order is not None:
            await self.journal.upsert_order(venue.name, outcome.order, action_id, step_id)
            try:
                outcome.fills = list(await self._fills(venue, request.symbol,
                                                       request.client_id,
                                                       outcome.order.venue_id))
            except VenueError as exc:
                outcome.fills_unread = exc
            await self.journal.record_fills(venue.name, outcome.fills)
        await self.journal.update_step(step_id, **_step_end(outcome))
        return outcome

    async def see_through(self, venue: Venue, action_id: int, outcome: Outcome) -> Outcome:
        """The outcome of an order not settled yet (still live, or its fills unread), once
        the venue says what it became and its fills are read, however long that takes."""
        assert outcome.order is not None, "an order of unknown fate is looked up at start"
        action = await self.journal.action_with_steps(action_id)
        step_id = next(s.id for s in action.steps if s.client_id == outcome.client_id)
        order, fills = await self.follow_to_end(venue, action_id, step_id, outcome.order)
        return replace(outcome, order=order, fills=fills, fills_unread=None)

    async def track(self, venue: Venue, step: Any) -> Tracked:
        """One look at a resting order, by its client id (SPEC §10): the order as the venue
        has it now, journaled with its fills — each fill recorded once, whichever run sees
        it. An order the venue does not know is lost only after LOOKUPS_BEFORE_LOST such
        answers in a row, over as many runs; an outage decides nothing (VenueError)."""
        symbol, client_id = step.params["symbol"], step.client_id
        seen = dict(step.result or {})
        try:
            order = await venue.order_by_client_id(symbol, client_id)
        except OrderUnknown:
            seen["not_found"] = int(seen.get("not_found", 0)) + 1
            if seen["not_found"] < LOOKUPS_BEFORE_LOST:
                await self.journal.update_step(step.id, result=seen)
                return Tracked(None, 0, lost=False)
            await self.journal.update_step(step.id, state="failed", error_code="lost", result=seen,
                                           error_message=f"order {client_id} not found "
                                                   f"{seen['not_found']} times")
            return Tracked(None, 0, lost=True)
        fills = list(await self._fills(venue, symbol, client_id, order.venue_id))
        await self.journal.upsert_order(venue.name, order, step.action_id, step.id)
        new = await self.journal.record_fills(venue.name, fills)
        await self.journal.update_step(
            step.id, state="final" if order.state.is_final else "sent",
            result={"venue_id": order.venue_id, "state": order.state.value,
                    "filled_size": str(order.filled_size), "fills": len(fills), "not_found": 0})
        return Tracked(order, new, lost=False)

    async def plan_steps(self, action_id: int, orders: Sequence[tuple[int, str, OrderRequest]]
                   ) -> None:
        """Journal every order an action will send, as (seq, kind, request), before the
        first is sent: after a stop, what was never sent is known, not forgotten."""
        for seq, kind, request in orders:
            client_id = client_id_for(self.client_prefix, action_id, seq)
            await self.journal.add_step(action_id, seq, kind,
                                        _params(_with_client_id(request, client_id)), client_id,
                                        planned=True)

    async def reconcile(self, venues: Mapping[str, Venue], steps: Sequence[Any],
                        accounts: Mapping[int, str], adopt: Adopt) -> list[str]:
        """On start: every step journaled as intended or sent is looked up by its client
        id, together, and journaled as the venue has it now; it is marked failed only when
        the venue has certainly never had it. An order still live is handed to `adopt`,
        which follows it to its end in the background, so one order resting for an hour
        holds up nobody's report. A step the venue cannot be asked about now stays open
        for the next start. Returns one line per step for the alert, in the steps' order."""
        return list(await asyncio.gather(*(self._reconcile_one(venues, step, accounts, adopt)
                                           for step in steps)))

    async def _reconcile_one(self, venues: Mapping[str, Venue], step: Any,
                             accounts: Mapping[int, str], adopt: Adopt) -> str:
        account = accounts.get(step.action_id)
        venue = venues.get(account) if account else None
        symbol = step.params.get("symbol")
        if step.client_id is None or venue is None or account is None or symbol is None:
            return (f"step {step.seq} of action {step.action_id}: no order or no "
                    "configured account to look it up; left as it was")
        # An order the killed run may have sent just before it died can still land: it is
        # "never placed" only when the late window since it was journaled has passed.
        waited = (self.clock() - step.updated_at).total_seconds()
        try:
            order = await self._find_late(venue, symbol, step.client_id,
                                          max(0.0, self.follow_settings.late_window_seconds
                                              - waited))
        except OrderFateUnknown as exc:
            await self.journal.update_step(step.id, state="failed", error_code="lost",
                                           error_message=str(exc))
            return f"{account} {symbol} {step.client_id}: never placed ({exc})"
        except VenueError as exc:
            return (f"{account} {symbol} {step.client_id}: "
                    f"unknown for now, looked up again at the next start ({exc})")
        fills = await self.journal_order(venue, account, step.action_id, step.id, order)
        line = (f"{account} {symbol} {step.client_id}: {order.state.value}, "
                f"filled {order.filled_size} of {order.size}")
        if order.state.is_final and fills is not None:
            return line
        adopt(venue, step.action_id, step.id, order)
        return line + ("; followed until it ends" if not order.state.is_final
                       else "; its fills are read again until the venue answers")

    async def follow_to_end(self, venue: Venue, action_id: int, step_id: int,
                            order: Order) -> tuple[Order, list[Fill]]:
        """Follow an order nobody waits for any more until the venue says it is final and
        its fills are read: a good-till-time order until its expiry, anything else
        cancelled now (again, if need be: cancelling twice is harmless), through outages
        of any length. Journaled as it ends."""
        delay = self.follow_settings.poll_seconds
        while True:
            try:
                order = await self.follow(venue, order, _time_left(order))
            except VenueError as exc:
                log.warning("order_followed_through_outage client_id=%s error=%s",
                            order.client_id, exc)
            if order.state.is_final:
                fills = await self.journal_order(venue, venue.name, action_id, step_id, order)
                if fills is not None:
                    return order, fills
            await self.sleep(delay)
            delay = min(delay * 2, MAX_BACKGROUND_POLL_SECONDS)

    async def journal_order(self, venue: Venue, account: str, action_id: int, step_id: int,
                            order: Order) -> list[Fill] | None:
        """The order, its fills and its step as the venue has them now. The fills, or None
        when they could not be read: then the step stays open, even for a final order."""
        try:
            fills: list[Fill] | None = list(await self._fills(venue, order.symbol,
                                                              order.client_id,
                                                              order.venue_id))
        except VenueError:
            fills = None
        await self.journal.upsert_order(account, order, action_id, step_id)
        await self.journal.record_fills(account, fills or [])
        over = order.state.is_final and fills is not None
        await self.journal.update_step(
            step_id, state="final" if over else "sent",
            result={"venue_id": order.venue_id, "state": order.state.value,
                    "filled_size": str(order.filled_size), "fills": len(fills or [])})
        return fills

    async def follow(self, venue: Venue, order: Order, timeout: float | None = None) -> Order:
        """Poll until the order is final. Past `timeout` a still-open order is cancelled
        and followed until the venue reports what it finally became."""
        settings = self.follow_settings
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (settings.timeout_seconds if timeout is None else timeout)
        delay = settings.poll_seconds
        cancelled, polls_after_cancel = False, 0
        while not order.state.is_final:
            if loop.time() >= deadline and not cancelled:
                order = await self._cancel(venue, order)
                cancelled = True
                continue
            if cancelled:
                polls_after_cancel += 1
                if polls_after_cancel > POLLS_AFTER_CANCEL:
                    # Reported as still open; the step stays "sent" for the next start.
                    log.warning("order_not_final_after_cancel client_id=%s", order.client_id)
                    return order
            await self.sleep(delay)
            delay = min(delay * 1.5, settings.poll_max_seconds)
            order = await self._lookup(venue, order.symbol, order.client_id)
        return order

    # -- internals --------------------------------------------------------------------

    async def _place(self, venue: Venue, request: OrderRequest) -> Order:
        delay = self.follow_settings.backoff_seconds
        for attempt in range(1, PLACE_ATTEMPTS + 1):
            try:
                return await venue.place_order(request)
            except RateLimited:
                if attempt == PLACE_ATTEMPTS:
                    raise
            except VenueUnavailable as exc:
                # The request may have landed, now or a while later: it is looked up, and
                # never sent again while it still could land.
                log.warning("order_outcome_unknown client_id=%s error=%s", request.client_id, exc)
                return await self._find_late(venue, request.symbol, request.client_id,
                                             self.follow_settings.late_window_seconds)
            await self.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    async def _find_late(self, venue: Venue, symbol: str, client_id: str,
                         window: float) -> Order:
        """Look an order of unknown fate up until `window` seconds have passed; not found
        by then, it is of unknown fate still (OrderFateUnknown), never "lost"."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + window
        while True:
            try:
                return await self._lookup(venue, symbol, client_id)
            except OrderLost:
                if loop.time() >= deadline:
                    raise OrderFateUnknown(
                        f"order {client_id} of unknown fate: not at the venue "
                        f"{window:.0f} s after it was sent; not sent again",
                        code="fate_unknown", venue=venue.venue) from None
            await self.sleep(self.follow_settings.poll_max_seconds)

    async def _find_or_place(self, venue: Venue, request: OrderRequest,
                             last_sent: datetime) -> Order:
        """A step journaled before: its order is looked up, until the late window since
        it was last sent has passed. Only an order the venue still has not heard of by then
        never landed, and is sent now (with the same client id)."""
        waited = (self.clock() - last_sent).total_seconds()
        window = max(0.0, self.follow_settings.late_window_seconds - waited)
        try:
            return await self._find_late(venue, request.symbol, request.client_id, window)
        except OrderFateUnknown:
            return await self._place(venue, request)

    async def _lookup(self, venue: Venue, symbol: str, client_id: str) -> Order:
        delay = self.follow_settings.backoff_seconds
        unknown = outage = 0
        while True:
            try:
                return await venue.order_by_client_id(symbol, client_id)
            except OrderUnknown:
                unknown += 1
                if unknown >= LOOKUPS_BEFORE_LOST:
                    raise OrderLost(f"order {client_id} not found after {unknown} look-ups",
                                    code="lost", venue=venue.venue) from None
            except (RateLimited, VenueUnavailable) as exc:
                outage += 1
                log.warning("order_lookup_retry client_id=%s error=%s", client_id, exc)
                if outage >= LOOKUPS_THROUGH_OUTAGE:
                    raise
            await self.sleep(delay)
            delay = min(delay * 2, self.follow_settings.poll_max_seconds * 4)

    async def _cancel(self, venue: Venue, order: Order) -> Order:
        """Cancel, retried through rate limits and outages (a timed-out cancel may or may
        not have landed; cancelling twice is harmless). When the venue cannot be reached
        at all, the order as last seen: following it goes on, it is never abandoned."""
        delay = self.follow_settings.backoff_seconds
        for _ in range(LOOKUPS_THROUGH_OUTAGE):
            try:
                return await venue.cancel_order(order.symbol, client_id=order.client_id)
            except OrderUnknown:
                # 51400: filled or cancelled meanwhile. The next look-up tells which.
                return await self._lookup(venue, order.symbol, order.client_id)
            except (RateLimited, VenueUnavailable) as exc:
                log.warning("cancel_retry client_id=%s error=%s", order.client_id, exc)
            await self.sleep(delay)
            delay = min(delay * 2, self.follow_settings.poll_max_seconds * 4)
        return order

    async def _last_known(self, venue: Venue, request: OrderRequest) -> Order | None:
        try:
            return await venue.order_by_client_id(request.symbol, request.client_id)
        except VenueError:
            return None

    async def _fills(self, venue: Venue, symbol: str, client_id: str,
                     venue_id: str | None) -> Sequence[Fill]:
        """An order's fills, read through rate limits and outages as its look-ups are;
        the venue's error when it does not answer even then. The venue id, known from the
        order just seen, spares a venue that reads fills by it (OKX) a look-up by client
        id; an order accepted but not read yet has none."""
        delay = self.follow_settings.backoff_seconds
        for attempt in range(1, LOOKUPS_THROUGH_OUTAGE + 1):
            try:
                return await venue.fills(symbol, client_id=client_id,
                                         venue_id=venue_id or None)
            except (RateLimited, VenueUnavailable) as exc:
                log.warning("fills_read_retry client_id=%s error=%s", client_id, exc)
                if attempt == LOOKUPS_THROUGH_OUTAGE:
                    raise
            await self.sleep(delay)
            delay = min(delay * 2, self.follow_settings.poll_max_seconds * 4)
        raise AssertionError("unreachable")

def _step_end(outcome: Outcome) -> dict[str, Any]:
    """How a step ends in the journal. Only a final order or a definitive refusal closes
    it; an order still open or of unknown fate stays "sent", so the next start looks it
    up by client id again."""
    result, error = _result(outcome), outcome.error
    if outcome.refused:
        assert error is not None
        return {"state": "failed", "error_code": error.code, "error_message": str(error),
                "result": result}
    if outcome.settled:
        return {"state": "final", "result": result}
    if outcome.fills_unread is not None and outcome.state and outcome.state.is_final:
        return {"state": "sent", "result": result,
                "error_message": f"fills not read yet: {outcome.fills_unread}"}
    return {"state": "sent", "result": result,
            "error_message": str(error) if error is not None else "not final"}


def _time_left(order: Order) -> float:
    """How long an order may still rest: a GTT order until its expiry (and a grace), any
    other order not at all."""
    if order.expire_at is None:
        return 0.0
    left = (order.expire_at - datetime.now(UTC)).total_seconds()
    return max(0.0, left) + GTT_GRACE_SECONDS


def _with_client_id(request: OrderRequest, client_id: str) -> OrderRequest:
    return replace(request, client_id=client_id)


def _params(request: OrderRequest) -> dict[str, Any]:
    return {"symbol": request.symbol, "side": request.side.value,
            "position_side": request.position_side.value, "type": request.type.value,
            "size": str(request.size), "price": str(request.price) if request.price else None,
            "reduce_only": request.reduce_only, "time_in_force": request.time_in_force.value,
            "expire_at": request.expire_at.isoformat() if request.expire_at else None}


def request_of(params: Mapping[str, Any]) -> OrderRequest:
    """The order a journaled step sent, as its parameters recorded it."""
    return OrderRequest("", params["symbol"], OrderSide(params["side"]),
                        Side(params["position_side"]), OrderType(params["type"]),
                        Decimal(params["size"]),
                        Decimal(params["price"]) if params.get("price") else None,
                        reduce_only=bool(params["reduce_only"]),
                        time_in_force=TimeInForce(params["time_in_force"]),
                        expire_at=datetime.fromisoformat(params["expire_at"])
                        if params.get("expire_at") else None)


def _result(outcome: Outcome) -> dict[str, Any]:
    order = outcome.order
    return {
        "venue_id": order.venue_id if order else None,
        "state": order.state.value if order else None,
        "filled_size": str(outcome.filled_size),
        "average_price": str(outcome.average_price) if outcome.average_price else None,
        "fee": str(outcome.fee), "realized_pnl": str(outcome.realized_pnl),
        "fills": len(outcome.fills),
        "error": str(outcome.error) if outcome.error else None,
    }
