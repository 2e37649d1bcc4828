"""Marks at known moments, for the candle contract tests: every fake venue serves the
paper engine's candles, so each adapter's answer can be checked to the digit.

    clock = StepClock()
    exchange = new_exchange(clock=clock)               # the start: the marks at T0
    play(exchange, clock, "APT-USDT-SWAP", APT_MOVES)  # then these, the clock at NOW

or all of that, with the accounts main and sub1, as `marked_exchange()`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.venues.paper.demo import new_exchange
from bot.venues.paper.engine import PaperExchange

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(minutes=12)


class StepClock:
    """The exchange's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def play(exchange: PaperExchange, clock: StepClock, symbol: str,
         moves: Iterable[tuple[float, str]]) -> None:
    """Set `symbol`'s mark to each price at its minute after T0; leave the clock at NOW."""
    for minutes, price in moves:
        clock.now = T0 + timedelta(minutes=minutes)
        exchange.set_mark(symbol, Decimal(price))
    clock.now = NOW


# APT from its start at 5.2: the 5m bars from T0 are 5.2/5.3/5.1/5.25 (open/high/low/
# close), 5.4/5.45/5.35/5.35, and 5.35 held still to NOW; the hour so far is
# 5.2/5.45/5.1/5.35.
APT_MOVES = ((1, "5.3"), (3, "5.1"), (4.5, "5.25"), (6, "5.4"), (8, "5.45"), (9, "5.35"))


def marked_exchange() -> PaperExchange:
    """The paper venue's instruments, APT_MOVES played, and the accounts main and sub1
    (the fakes' keys trade them), holding nothing."""
    clock = StepClock()
    exchange = new_exchange(clock=clock)
    for account in ("main", "sub1"):
        exchange.add_account(account, Decimal(1000))
    play(exchange, clock, "APT-USDT-SWAP", APT_MOVES)
    return exchange
