"""The one error a use case raises when it will not do what was asked."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot.domain import Instrument


@dataclass(frozen=True, slots=True)
class Contracts:
    """A size among a refusal's values: the front shows it in contracts and in coin."""

    size: Decimal
    instrument: Instrument


@dataclass(frozen=True, slots=True)
class Usdt:
    """An amount of money among a refusal's values."""

    amount: Decimal


class Refusal(Exception):
    """Why a request was refused: a message key and its values, so every front tells the
    reason in its own words and the user's language (a `side` value is a position side,
    a `Contracts` value a size,
    a `Usdt` value money). Nothing was sent to a venue when this is raised."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key, values)
        self.key = key
        self.values = values
