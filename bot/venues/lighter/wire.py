"""Lighter's wire format. Sizes and prices travel as integers scaled by the market's own
decimals (read from orderBookDetails, never assumed), and an order's client id is an
integer, the client order index, in [1, 2^48 - 1] (larger indices are the venue's own
order indices).

Our client ids (`b<6 hex>a<action>s<seq>`, see bot.execution.client_id_for) pack into that
range without hashing — 12 bits of the installation's prefix, 26 of the action, 10 of the
step — so two orders of one installation never share an index, and the index of a step
is known again after a timeout or a restart without asking anyone. The index sent is also
kept in the step's journal. An id of any other shape is hashed into the same range.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal

from bot.venues.base import BadPrecision

MIN_CLIENT_ORDER_INDEX, MAX_CLIENT_ORDER_INDEX = 1, 2**48 - 1
_OURS = re.compile(r"b([0-9a-f]{6})a([0-9]+)s([0-9]+)")
_ACTION_BITS, _STEP_BITS = 26, 10


def client_order_index(client_id: str) -> int:
    """The client order index an order with our `client_id` is sent with."""
    ours = _OURS.fullmatch(client_id)
    if ours is not None:
        prefix, action, step = int(ours[1], 16) & 0xFFF, int(ours[2]), int(ours[3])
        if action < 2**_ACTION_BITS and step < 2**_STEP_BITS:
            index = (prefix << (_ACTION_BITS + _STEP_BITS)) | (action << _STEP_BITS) | step
            if index >= MIN_CLIENT_ORDER_INDEX:
                return index
    digest = int.from_bytes(hashlib.sha256(client_id.encode()).digest()[:8], "big")
    return digest % MAX_CLIENT_ORDER_INDEX + MIN_CLIENT_ORDER_INDEX


def to_units(value: Decimal, decimals: int, what: str) -> int:
    """`value` as the integer Lighter takes: scaled by 10^decimals, exactly. A value with
    more decimals than the market has is refused, never rounded: the caller rounds to the
    lot or tick first (bot.sizing), so an order never goes out for a size nobody asked."""
    units = value.scaleb(decimals)
    if not units.is_finite() or units != units.to_integral_value() or units < 0:
        raise BadPrecision(f"{what} {value} does not fit the market's {decimals} decimals",
                           code="precision", venue="lighter")
    return int(units)


def from_units(units: int | str, decimals: int) -> Decimal:
    """An integer of the wire back in the market's units."""
    return Decimal(units).scaleb(-decimals)


def step_of(decimals: int) -> Decimal:
    """The smallest step a market's `decimals` allow: its lot or tick size."""
    return Decimal(1).scaleb(-decimals)
