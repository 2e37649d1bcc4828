"""OKX v5 error codes mapped to our taxonomy.

The paper venue speaks OKX's codes (it imitates OKX), the OKX adapter receives them from
the real exchange, and the fake OKX server sends them back: one table for all three.
"""

from __future__ import annotations

from bot.venues import base

# code -> (error class, OKX's message as documented)
OKX_ERRORS: dict[str, tuple[type[base.VenueError], str]] = {
    "50001": (base.VenueUnavailable, "Service temporarily unavailable. Please try again later"),
    "50004": (base.RequestTimeout, "Endpoint request timeout"),
    "50011": (base.RateLimited, "Rate limit reached"),
    "50013": (base.VenueUnavailable, "Systems are busy. Please try again later"),
    "50026": (base.VenueUnavailable, "System error. Try again later"),
    "50061": (base.RateLimited, "Sub-account rate limit exceeded"),
    "50101": (base.AuthenticationFailed, "APIKey does not match current environment"),
    "50102": (base.AuthenticationFailed, "Timestamp request expired"),
    "50111": (base.AuthenticationFailed, "Invalid OK-ACCESS-KEY"),
    "50113": (base.AuthenticationFailed, "Invalid Sign"),
    "51000": (base.InvalidOrder, "Parameter error"),
    "51001": (base.UnknownInstrument, "Instrument ID does not exist"),
    "51008": (base.InsufficientMargin, "Order failed. Insufficient USDT margin in account"),
    "51020": (base.BelowMinimumSize, "Your order should meet or exceed the minimum order amount"),
    "51112": (base.InvalidOrder, "Close order size exceeds your available size"),
    "51121": (base.BadPrecision, "Order quantity must be a multiple of the lot size"),
    "51169": (base.PositionNotFound,
              "Order failed because you don't have any positions in this direction"),
    "51170": (base.InvalidOrder, "Failed to place order. Reduce-only in the same direction"),
    "51202": (base.InvalidOrder, "Market order amount exceeds the maximum amount"),
    "51400": (base.OrderUnknown, "Order cancellation failed as the order has been filled, "
                                 "canceled or does not exist"),
    "51603": (base.OrderUnknown, "Order does not exist"),
    "59102": (base.LeverageRejected, "Leverage exceeds the maximum leverage"),
    "59108": (base.LeverageRejected, "Low leverage and insufficient margin"),
    "59300": (base.PositionNotFound, "Margin adjustment failed. Position does not exist"),
    "59301": (base.MarginChangeRejected,
              "Margin adjustment failed for exceeding the max limit"),
}


def okx_error(code: str, message: str | None = None, *, venue: str = "okx") -> base.VenueError:
    """The taxonomy error for an OKX code; sub-codes like `51008_1001` map by their stem."""
    stem = code.split("_", 1)[0]
    cls, default_message = OKX_ERRORS.get(stem, (base.VenueError, "Operation failed"))
    return cls(message or default_message, code=code, venue=venue)


def okx_message(code: str) -> str:
    return OKX_ERRORS.get(code.split("_", 1)[0], (base.VenueError, "Operation failed"))[1]
