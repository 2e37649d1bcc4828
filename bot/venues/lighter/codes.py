"""Lighter's error codes in the venue error taxonomy.

Lighter answers an error with `{"code": <int>, "message": …}`, mostly with HTTP 400 (a
rate limit: HTTP 429 with code 23000). The SDK hands a 400 back as text ("HTTP response
body: code=21104 message='invalid nonce' …") and an accepted answer with another code as
the answer itself; both end here. Codes as Lighter's documentation lists them
(apidocs.lighter.xyz, "Data Structures, Constants and Errors"); ccxt's and other
adapters' tables agree.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.venues import base

OK = 200
VENUE = "lighter"

LIGHTER_ERRORS: dict[str, type[base.VenueError]] = {
    # not taken, as a rate limit is not: sending it again is safe (the SDK fetched the
    # nonce again; the adapter sends once more, the executor's retries do the rest)
    "21104": base.RateLimited,  # invalid nonce
    "21105": base.RateLimited,  # batch transaction nonce is not increasing
    "21101": base.RateLimited,  # account nonce not found
    "21506": base.RateLimited,  # too many pending txs, try again later
    "23000": base.RateLimited,  # Too Many Requests!
    "23001": base.RateLimited, "23002": base.RateLimited, "23003": base.RateLimited,
    "23004": base.RateLimited,
    "29500": base.VenueUnavailable,  # internal server error
    # keys and accounts
    "20001": base.AuthenticationFailed,  # auth query param and header are empty
    "21108": base.AuthenticationFailed,  # invalid PublicKey
    "21109": base.AuthenticationFailed,  # api key not found
    "21110": base.AuthenticationFailed,  # invalid api key index
    "21120": base.AuthenticationFailed,  # invalid signature
    "21136": base.AuthenticationFailed,  # invalid PublicKey, update the sdk
    "21100": base.AuthenticationFailed,  # account not found
    "21102": base.AuthenticationFailed,  # invalid account index
    # markets
    "21602": base.UnknownInstrument,  # invalid market index
    "21621": base.UnknownInstrument,  # invalid perps market index
    "21605": base.InvalidOrder,  # invalid market status
    # orders
    "21600": base.OrderUnknown,  # given order is not an active limit order
    "21700": base.OrderUnknown,  # invalid order index
    "21707": base.OrderUnknown,  # account is not owner of the order
    "21708": base.OrderUnknown,  # order is empty
    "21709": base.OrderUnknown,  # order is inactive
    "21715": base.OrderUnknown,  # given order is not an active order
    "21701": base.BelowMinimumSize,  # invalid base amount
    "21706": base.BelowMinimumSize,  # invalid order base or quote amount
    "21702": base.InvalidOrder,  # invalid price
    "21711": base.InvalidOrder,  # invalid expiry
    "21727": base.InvalidOrder,  # invalid client order index
    "21728": base.InvalidOrder,  # client order index already exists
    "21732": base.InvalidOrder,  # reduce only increases position
    "21733": base.InvalidOrder,  # order price flagged as an accidental price
    "21734": base.InvalidOrder,  # limit order price is too far from the mark price
    "21738": base.InvalidOrder,  # invalid reduce only direction
    "21601": base.InvalidOrder,  # order book is full
    "21717": base.InvalidOrder, "21718": base.InvalidOrder,  # too many active orders
    "21719": base.InvalidOrder, "21720": base.InvalidOrder,  # too many pending orders
    "21739": base.InsufficientMargin,  # not enough margin to create the order
    "21507": base.InsufficientMargin,  # below maintenance margin
    "21508": base.InsufficientMargin,  # below initial margin
    "21301": base.InsufficientMargin,  # not enough collateral
    # leverage and margin
    "21113": base.LeverageRejected,  # invalid initial margin fraction
    "21132": base.LeverageRejected,  # margin mode change with a position or orders
    "21133": base.MarginChangeRejected,  # invalid risk change
    "21613": base.MarginChangeRejected,  # invalid margin mode
    "21614": base.PositionNotFound,  # no position found
    "21615": base.MarginChangeRejected,  # invalid update margin direction
}

_IN_TEXT = re.compile(r"code[=\"':\s]+(\d+)\D.*?message[=\"':\s]+['\"]?([^'\"\n]*)", re.S)


def venue_error(code: Any, message: str) -> base.VenueError:
    """The taxonomy error for a Lighter code (an unknown code: a plain VenueError)."""
    text = str(code) if code is not None else None
    cls = LIGHTER_ERRORS.get(text or "", base.VenueError)
    return cls(message, code=text, venue=VENUE)


def from_text(text: str, what: str) -> base.VenueError:
    """The SDK's error string, which quotes the answer's code and message."""
    found = _IN_TEXT.search(text)
    if found is None:
        return base.VenueError(f"{what}: {text.strip()[:300]}", venue=VENUE)
    return venue_error(found[1], f"{what}: {found[2].strip()}")


def from_exception(exc: BaseException, what: str) -> base.VenueError:
    """An exception out of the SDK: its HTTP answer's code when it has one (the SDK's
    ApiException carries status and body), else the network failed."""
    status, body = getattr(exc, "status", None), getattr(exc, "body", None)
    if status is not None:
        try:
            answer = json.loads(body) if body else {}
        except ValueError:
            answer = {}
        code = answer.get("code") if isinstance(answer, dict) else None
        message = answer.get("message") if isinstance(answer, dict) else None
        if status == 429 and code is None:
            code = "23000"
        if code is None and int(status) >= 500:
            return base.VenueUnavailable(f"{what}: HTTP {status}", code=str(status),
                                         venue=VENUE)
        return venue_error(code if code is not None else status,
                           f"{what}: {message or body or status}")
    return base.VenueUnavailable(f"{what}: {type(exc).__name__}: {exc}"[:300],
                                 code="network", venue=VENUE)
