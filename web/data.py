"""The overview as plain JSON data: what `/api/status` returns and the page is drawn from.

Money, prices and sizes are Decimal strings (exact, no exponent), times ISO-8601 in UTC.
Every text passes through the secret scrubber on the way out: a venue's error or a job's
last error may quote a key, and nothing the page or the API shows may carry one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot.ops.context import VENUE_READ_TIMEOUT
from bot.ops.orders import RestingOrder
from bot.ops.overview import AccountOverview, OverviewSnapshot
from bot.ops.positions import PositionView
from bot.ops.status import JobStatus
from bot.rules.take_profit import Skip, TierStatus
from db.records import EventRecord

Scrub = Callable[[str], str]


def exact(value: Decimal | None) -> str | None:
    """A Decimal as the API gives it: exact, without trailing zeros or an exponent."""
    return None if value is None else f"{value.normalize():f}"


def two_places(value: Decimal) -> str:
    """As the chat shows money and rates: two places, thousands separated."""
    return f"{value.quantize(Decimal('0.01')):,f}"


def moment(value: datetime | None) -> str | None:
    if value is None:
        return None
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def tier_words(status: TierStatus, min_margin: Decimal) -> str:
    """The next tier or why the position is skipped, in /tp's words."""
    n = status.fired + 1
    if status.skip is Skip.MARGIN_TOO_SMALL:
        return f"skipped: margin ≤ {two_places(min_margin)} USDT"
    if status.skip is Skip.LADDER_DONE:
        return "every tier has fired"
    if status.skip is Skip.BELOW_MINIMUM:
        return f"tier {n} reached, but its close is below the minimum order"
    assert status.next_tier is not None
    if status.skip is Skip.BELOW_THRESHOLD:
        return (f"next: tier {n} at {two_places(status.next_tier.profit_pct)}%"
                f" (now {two_places(status.position.profit_rate)}%)")
    return f"tier {n} fires on the next run"


def _take_profit(status: TierStatus | None, min_margin: Decimal) -> dict[str, Any] | None:
    if status is None:
        return None
    tier = status.next_tier
    return {
        "fired": status.fired,
        "ladder": [{"profit_pct": exact(t.profit_pct), "close_pct": exact(t.close_pct)}
                   for t in status.ladder],
        "next_tier": None if tier is None else {
            "tier": status.fired + 1, "profit_pct": exact(tier.profit_pct),
            "close_pct": exact(tier.close_pct)},
        "skip": None if status.skip is None else status.skip.value,
        "status": tier_words(status, min_margin),
    }


def _position(view: PositionView, min_margin: Decimal) -> dict[str, Any]:
    p = view.position
    return {
        "symbol": p.symbol, "coin": p.instrument.base, "side": p.side.value,
        "size": exact(p.size), "size_coin": exact(p.size * p.instrument.contract_value),
        "entry_price": exact(p.entry_price), "mark_price": exact(p.mark_price),
        "margin": exact(p.margin), "leverage": exact(p.leverage),
        "unrealized_pnl": exact(p.unrealized_pnl), "profit_rate": exact(p.profit_rate),
        "take_profit": _take_profit(view.take_profit, min_margin),
    }


def _unread(error: str | None, timed_out: bool) -> str | None:
    if timed_out:
        return f"no answer within {VENUE_READ_TIMEOUT:.0f} s"
    return error


def _account(a: AccountOverview, min_margin: Decimal) -> dict[str, Any]:
    balance = a.health.balance
    return {
        "name": a.name, "venue": a.venue, "role": a.role, "take_profit": a.take_profit.value,
        "reachable": balance is not None,
        "error": _unread(a.health.error, a.health.timed_out),
        "balance": None if balance is None else {
            "currency": balance.currency, "equity": exact(balance.equity),
            "free": exact(balance.free)},
        "positions_error": _unread(a.positions.error, a.positions.timed_out),
        "positions": [_position(v, min_margin) for v in a.positions.positions],
    }


def _job(job: JobStatus) -> dict[str, Any]:
    return {
        "name": job.name, "interval_seconds": job.interval_seconds,
        "last_run": moment(job.last_run), "last_duration_seconds": job.last_duration,
        "next_run": moment(job.next_run), "runs": job.runs, "running": job.running,
        "paused": job.paused, "last_error": job.last_error, "skipped": job.skipped,
        "late": job.late,
    }


def _order(r: RestingOrder) -> dict[str, Any]:
    o = r.order
    return {
        "account": r.account, "symbol": o.symbol, "side": o.side.value,
        "position_side": o.position_side.value, "type": o.type.value,
        "size": exact(o.size), "filled_size": exact(o.filled_size), "price": exact(o.price),
        "state": o.state.value, "reduce_only": o.reduce_only, "client_id": o.client_id,
        "created_at": moment(o.created_at), "action_id": r.action_id,
        "action_kind": r.action_kind, "grid": r.grid, "grid_level": r.level,
    }


def _event(e: EventRecord) -> dict[str, Any]:
    return {
        "time": moment(e.time), "name": e.name, "severity": e.severity.value,
        "message": e.message, "account": e.account, "symbol": e.symbol, "side": e.side,
        "action_id": e.action_id, "data": e.data,
    }


def scrubbed(value: Any, scrub: Scrub) -> Any:
    """`value` with every text (keys too) masked, at any depth."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub(k): scrubbed(v, scrub) for k, v in value.items()}
    if isinstance(value, list):
        return [scrubbed(v, scrub) for v in value]
    return value


def status_data(snapshot: OverviewSnapshot, scrub: Scrub) -> dict[str, Any]:
    s = snapshot
    return scrubbed({
        "time": moment(s.time), "demo": s.demo, "paused": s.paused,
        "take_profit_min_margin": exact(s.min_margin),
        "accounts": [_account(a, s.min_margin) for a in s.accounts],
        "jobs": [_job(j) for j in s.jobs],
        "resting_orders": [_order(r) for r in s.resting_orders],
        "events": [_event(e) for e in s.events],
    }, scrub)
