"""`/why SYMBOL [level]` (SPEC §11): what the bot decided about one instrument, from the
events table — every rule's decisions and outcomes (grid, take-profit, hedge,
correction, maintenance, closes), oldest first — and the one event that answers "why
did / didn't it act?": the newest decision among them.

It reads only the database, so it answers while a venue is down, which is when the
question comes. The coin a trader types is matched against the instruments events were
recorded for, on every venue: `APT` is `APT-USDT-SWAP` on OKX, `APT/USDT:USDT` through
ccxt, `APT` on Lighter.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.ops.context import Context
from bot.ops.refusal import Refusal
from bot.ops.symbols import coin_of, is_coin
from db.records import EventRecord

SHOWN = 15  # the timeline's length: one message a trader reads at a glance
LOOKED_AT = 500  # events read to find a level's own, and the newest decision
# Events that tell a decision or an outcome of one, hence can answer "why?"; the others
# (a position seen changing, a job's failure) are part of the timeline only.
DECISIONS = ("grid_", "ledger_drift", "tp_fired", "tp_failed", "tp_would_fire",
             "tp_skipped_", "hedge_", "correction_", "maintenance_", "close_",
             "action_settled", "watcher_")


@dataclass(frozen=True, slots=True)
class Timeline:
    coin: str
    level: int | None  # a grid level, as the trader counts them (1 = the first)
    events: list[EventRecord]  # oldest first
    answer: EventRecord | None  # the newest decision; None: nothing was decided


def is_decision(event: EventRecord) -> bool:
    return event.name.startswith(DECISIONS)


def of_level(event: EventRecord, level: int) -> bool:
    """A grid's event about that level, or about the whole grid's holdings (a drift is
    what sell protection then sees)."""
    if event.name.startswith("ledger_drift"):
        return True
    return event.name.startswith("grid_") and (event.data or {}).get("level") == level


class Timelines:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def timeline(self, coin: str, level: int | None = None) -> Timeline:
        store = self.ctx.store
        known = await store.event_symbols()
        symbols = [s for s in known if is_coin(s, coin)]
        if not symbols:
            coins = sorted({coin_of(s) for s in known})
            raise Refusal("why_nothing", symbol=coin.upper()[:30],
                          coins=", ".join(coins[:20]) or "-")
        if level is not None and level < 1:
            raise Refusal("why_bad_level", level=level)
        events = await store.recent_events(LOOKED_AT, symbols=symbols)  # newest first
        if level is not None:
            events = [e for e in events if of_level(e, level)]
            if not events:
                raise Refusal("why_no_level", symbol=coin.upper()[:30], level=level)
        answer = next((e for e in events if is_decision(e)), None)
        return Timeline(coin.upper(), level, list(reversed(events[:SHOWN])), answer)
