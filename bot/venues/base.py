"""The one interface every venue adapter implements, and the one error taxonomy.

Each adapter maps its venue's answers into these types and errors, carrying the venue's
own code and message so a trader can look them up (`51008 Insufficient USDT margin`).
One Venue object is one account (one set of credentials).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Protocol, runtime_checkable

from bot.domain import (
    Balance,
    Candle,
    Fill,
    Instrument,
    MarginChange,
    Order,
    OrderBook,
    OrderRequest,
    Position,
    Side,
)

# The bars `Venue.candles` draws, in seconds; each adapter names them as its venue does.
BAR_SECONDS: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600}


def bar_seconds(bar: str) -> int:
    """The length of a bar; a name outside BAR_SECONDS is a caller's mistake."""
    try:
        return BAR_SECONDS[bar]
    except KeyError:
        raise ValueError(f"bar {bar!r} is not one of {', '.join(BAR_SECONDS)}") from None


class VenueError(Exception):
    """Base of every error a venue raises. `code`/`message` are the venue's own."""

    kind = "venue_error"

    def __init__(self, message: str, *, code: str | None = None, venue: str | None = None,
                 retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.venue = venue
        self.retryable = retryable

    def __str__(self) -> str:
        where = f"{self.venue} " if self.venue else ""
        code = f"{self.code} " if self.code else ""
        return f"{where}{code}{self.message}".strip()


class InsufficientMargin(VenueError):
    """The order needs more margin than the free balance (OKX 51008)."""

    kind = "insufficient_margin"


class BelowMinimumSize(VenueError):
    """Size below the instrument minimum (OKX 51020)."""

    kind = "below_minimum_size"


class BadPrecision(VenueError):
    """Size not a lot multiple or price not a tick multiple (OKX 51121, 51000)."""

    kind = "bad_precision"


class InvalidOrder(VenueError):
    """Any other parameter the venue refused (reduce-only conflicts, price limits, ...)."""

    kind = "invalid_order"


class PositionNotFound(VenueError):
    """No position in that direction (OKX 51169, 59300)."""

    kind = "position_not_found"


class RateLimited(VenueError):
    """Too many requests (OKX 50011, 50061, HTTP 429): retry with backoff."""

    kind = "rate_limited"

    def __init__(self, message: str, **kwargs: object) -> None:
        kwargs.setdefault("retryable", True)
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class OrderUnknown(VenueError):
    """The venue cannot find the order (OKX 51603). Not the same as cancelled."""

    kind = "order_unknown"


class VenueUnavailable(VenueError):
    """Maintenance, system busy, 5xx, or no answer at all: the outcome of a write is
    unknown and must be looked up by client id before anything else."""

    kind = "venue_unavailable"

    def __init__(self, message: str, **kwargs: object) -> None:
        kwargs.setdefault("retryable", True)
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class RequestTimeout(VenueUnavailable):
    """The request was sent but no answer came in time: it may or may not have landed."""

    kind = "timeout"


class AuthenticationFailed(VenueError):
    """Wrong key, signature, passphrase or environment (OKX 501xx)."""

    kind = "authentication_failed"


class UnknownInstrument(VenueError):
    kind = "unknown_instrument"


class LeverageRejected(VenueError):
    """The venue refused a leverage change (OKX 591xx)."""

    kind = "leverage_rejected"


class MarginChangeRejected(VenueError):
    """The venue refused a margin add/reduce (OKX 593xx)."""

    kind = "margin_change_rejected"


@runtime_checkable
class Venue(Protocol):
    """One account on one venue. Every method is a coroutine; sizes are in contracts."""

    name: str  # the account name from config
    venue: str  # "paper", "okx", "lighter", "ccxt:bitget"

    async def instruments(self) -> Sequence[Instrument]: ...

    async def instrument(self, symbol: str) -> Instrument: ...

    async def positions(self) -> Sequence[Position]: ...

    async def balance(self) -> Balance: ...

    async def order_book(self, symbol: str, depth: int = 5) -> OrderBook: ...

    async def mark_price(self, symbol: str) -> Decimal: ...

    async def candles(self, symbol: str, bar: str = "5m", limit: int = 96) -> Sequence[Candle]:
        """The last `limit` bars of `bar` (a BAR_SECONDS name), oldest first; the newest
        may still be forming."""
        ...

    async def place_order(self, request: OrderRequest) -> Order:
        """Send an order. Re-sending a client id that the venue already has returns that
        order instead of a second one."""
        ...

    async def order_by_client_id(self, symbol: str, client_id: str) -> Order: ...

    async def order_by_venue_id(self, symbol: str, venue_id: str) -> Order: ...

    async def cancel_order(self, symbol: str, *, client_id: str | None = None,
                           venue_id: str | None = None) -> Order: ...

    async def open_orders(self, symbol: str | None = None) -> Sequence[Order]: ...

    async def fills(self, symbol: str | None = None, *, client_id: str | None = None,
                    venue_id: str | None = None) -> Sequence[Fill]: ...

    async def set_leverage(self, symbol: str, side: Side, leverage: Decimal) -> Decimal:
        """Set isolated leverage for one side; returns the leverage read back."""
        ...

    async def change_margin(self, symbol: str, side: Side, amount: Decimal) -> MarginChange:
        """Add (amount > 0) or remove (amount < 0) isolated margin of one position."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class Streaming(Protocol):
    """A venue whose positions and prices can come over its websockets."""

    def watch(self, changed: Callable[[], None]) -> None:
        """Stream from now on, calling `changed` on every change (a price, a position);
        `positions()` answers from the stream while it is live and reads REST otherwise.
        Stopped by `unwatch()` or `close()`."""
        ...

    async def unwatch(self) -> None:
        """Stop streaming; `positions()` reads REST again."""
        ...


async def held_position(venue: Venue, symbol: str, side: Side | str) -> Position | None:
    """The account's position on one instrument and side, read fresh; None if not held.
    The one way every op and the maintenance runner look a single position up."""
    wanted = Side(side)
    return next((p for p in await venue.positions()
                 if p.symbol == symbol and p.side is wanted), None)
