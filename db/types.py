"""Column types that keep money exact and time unambiguous on every backend.

SQLite has no exact decimal type: `Numeric` goes through a float on the way in or out and
turns 0.1 + 0.2 style noise into cents. Datetimes have no time zone in SQLite either, so a
naive value read back could be mistaken for local time. These decorators fix both at the
column, so nothing above the database layer has to remember.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import DateTime, Dialect, String
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """The default clock: aware UTC. Tests pass their own clock instead."""
    return datetime.now(UTC)


def to_decimal(value: object) -> Decimal:
    """Convert what a caller may reasonably hand us into a finite Decimal.

    Floats are refused: a float has already lost the exact value, so storing it would
    hide a bug upstream instead of exposing it.
    """
    if isinstance(value, bool | float):
        raise TypeError(f"refusing {type(value).__name__} {value!r}: pass a Decimal")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(value)
        except InvalidOperation as exc:
            raise ValueError(f"not a decimal number: {value!r}") from exc
    else:
        raise TypeError(f"cannot store {type(value).__name__} as a decimal")
    if not result.is_finite():
        raise ValueError(f"refusing non-finite decimal {result}")
    return result


class DecimalText(TypeDecorator[Decimal]):
    """A Decimal stored as its exact string form and read back as the same Decimal.

    `str(Decimal)` keeps the exponent, so Decimal("0.264550") comes back with its trailing
    zero and 30-digit values survive untouched. The text does not sort numerically; that
    is acceptable because nothing orders or sums these columns in SQL.
    """

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return str(to_decimal(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value)

    def process_literal_param(self, value: Any, dialect: Dialect) -> str:
        # Offline (--sql) migrations render literals; the String impl adds the quotes.
        return str(to_decimal(value))

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as naive UTC and returned as aware UTC.

    Naive datetimes are refused on write: whether one meant local time or UTC cannot be
    known, and guessing wrong shifts expiries and event timelines by hours.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"refusing naive datetime {value!r}: pass an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            # A row written by hand or another tool: accept ISO text too.
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @property
    def python_type(self) -> type[datetime]:
        return datetime
