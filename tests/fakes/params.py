"""How the fake OKX and Bitget servers read a number parameter: both venues send numbers
as strings and refuse one that is not a finite decimal with their own parameter error."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation


def finite_decimal(name: str, value: str, param_error: Callable[[str], Exception]
                   ) -> Decimal:
    """Parameter `name`'s `value` as a Decimal; `param_error(name)` is raised for text that
    is not a number, and for NaN and infinities, which Decimal would take."""
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise param_error(name) from None
    if not number.is_finite():
        raise param_error(name)
    return number
