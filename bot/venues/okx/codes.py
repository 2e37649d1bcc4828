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
    "50014": (base.InvalidOrder, "Parameter can not be empty"),
    "50026": (base.VenueUnavailable, "System error. Try again later"),
    "50061": (base.RateLimited, "Sub-account rate limit exceeded"),
    "50101": (base.AuthenticationFailed, "APIKey does not match current environment"),
    "50102": (base.AuthenticationFailed, "Timestamp request expired"),
    "50103": (base.AuthenticationFailed, "Request header OK-ACCESS-KEY can not be empty"),
    "50111": (base.AuthenticationFailed, "Invalid OK-ACCESS-KEY"),
    "50113": (base.AuthenticationFailed, "Invalid Sign"),
    "51000": (base.InvalidOrder, "Parameter error"),
    "51001": (base.UnknownInstrument, "Instrument ID does not exist"),
    "51003": (base.InvalidOrder, "Either client order ID or order ID is required"),
    "51006": (base.InvalidOrder, "Order price is not within the price limit"),
    "51007": (base.BelowMinimumSize, "Order failed. Please place an order of at least 1 contract"),
    "51008": (base.InsufficientMargin, "Order failed. Insufficient USDT margin in account"),
    "51010": (base.InvalidOrder, "You can't complete this request under your current account mode"),
    "51016": (base.InvalidOrder, "Duplicated client order ID"),
    "51020": (base.BelowMinimumSize, "Your order should meet or exceed the minimum order amount"),
    "51023": (base.PositionNotFound, "Position does not exist"),
    "51111": (base.InvalidOrder, "Maximum of 20 orders can be placed in bulk"),
    "51112": (base.InvalidOrder, "Close order size exceeds your available size"),
    "51121": (base.BadPrecision, "Order quantity must be a multiple of the lot size"),
    "51127": (base.InsufficientMargin, "Available balance is 0"),
    "51131": (base.InsufficientMargin, "Insufficient balance"),
    "51169": (base.PositionNotFound,
              "Order failed because you don't have any positions in this direction"),
    "51170": (base.InvalidOrder, "Failed to place order. Reduce-only in the same direction"),
    "51202": (base.InvalidOrder, "Market order amount exceeds the maximum amount"),
    "51205": (base.InvalidOrder, "Reduce Only is not available"),
    "51400": (base.OrderUnknown, "Order cancellation failed as the order has been filled, "
                                 "canceled or does not exist"),
    "51410": (base.InvalidOrder, "Cancellation failed as the order is already being canceled"),
    "51603": (base.OrderUnknown, "Order does not exist"),
    "59102": (base.LeverageRejected, "Leverage exceeds the maximum leverage"),
    "59103": (base.LeverageRejected, "Leverage is too low and no sufficient margin"),
    "59107": (base.LeverageRejected, "Leverage change blocked by pending cross orders"),
    "59108": (base.LeverageRejected, "Low leverage and insufficient margin"),
    "59300": (base.PositionNotFound, "Margin adjustment failed. Position does not exist"),
    "59301": (base.MarginChangeRejected,
              "Margin adjustment failed for exceeding the max limit"),
    "59302": (base.MarginChangeRejected, "Margin adjustment failed due to pending close orders"),
    "59303": (base.MarginChangeRejected, "Insufficient available margin"),
}

# Families OKX documents by prefix: 501xx are key/signature/environment problems, 510xx
# are order parameters the venue refused. The table above wins over a family.
_FAMILIES: tuple[tuple[str, type[base.VenueError]], ...] = (
    ("501", base.AuthenticationFailed),
    ("510", base.InvalidOrder),
)


def _lookup(code: str) -> tuple[type[base.VenueError], str]:
    stem = code.split("_", 1)[0]
    known = OKX_ERRORS.get(stem)
    if known is not None:
        return known
    for prefix, cls in _FAMILIES:
        if stem.startswith(prefix) and len(stem) == 5:
            return cls, "Operation failed"
    return base.VenueError, "Operation failed"


def okx_error(code: str, message: str | None = None, *, venue: str = "okx") -> base.VenueError:
    """The taxonomy error for an OKX code; sub-codes like `51008_1001` map by their stem."""
    cls, default_message = _lookup(code)
    return cls(message or default_message, code=code, venue=venue)


def okx_message(code: str) -> str:
    return _lookup(code)[1]
