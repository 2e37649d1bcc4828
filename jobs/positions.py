"""The position log: each run compares an account's positions with what the last run saw
and records every difference as an event, so `/why` and `/history` can tell what
happened, including changes made outside the bot (by hand, by liquidation)."""

from __future__ import annotations

from decimal import Decimal

from bot.venues.base import Venue
from db.repo import Store

RULE = "position_log"


async def log_position_changes(venue: Venue, store: Store) -> None:
    account = venue.name
    held = {(p.symbol, p.side.value): p for p in await venue.positions()}
    seen = {(r.symbol, r.side): r.state for r in store.rule_states(account=account, rule=RULE)}
    for key, pos in held.items():
        before = seen.get(key)
        now = {"size": str(pos.size), "entry": str(pos.entry_price)}
        if before == now:
            continue
        if before is None:
            name, message = "position_opened", f"{pos.symbol} {pos.side} {pos.size} opened"
        else:
            old = Decimal(before["size"])
            name = "position_increased" if pos.size > old else "position_reduced"
            message = f"{pos.symbol} {pos.side} {old} -> {pos.size}"
        store.record_event(name, message, account=account, symbol=pos.symbol,
                           side=pos.side.value, data={"before": before, "after": now})
        store.put_rule_state(account, pos.symbol, pos.side.value, RULE, now)
    for (symbol, side), before in seen.items():
        if (symbol, side) not in held:
            store.record_event("position_closed", f"{symbol} {side} {before['size']} -> 0",
                               account=account, symbol=symbol, side=side,
                               data={"before": before})
            store.delete_rule_state(account, symbol, side, RULE)
