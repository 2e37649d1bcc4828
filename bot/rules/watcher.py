"""The maintenance watcher (SPEC §5): which positions have fallen to the alert loss, at
most once per position per cooldown. Pure: the caller keeps when each was last alerted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from bot.domain import Position
from bot.rules.take_profit import PositionKey


def due_alerts(positions: Sequence[Position], loss_pct: Decimal,
               last_alert: Mapping[PositionKey, datetime], now: datetime,
               cooldown: timedelta) -> list[Position]:
    return [p for p in positions if p.profit_rate <= loss_pct
            and (p.key not in last_alert or now - last_alert[p.key] >= cooldown)]
