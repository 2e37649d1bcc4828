"""The watcher job of one account: positions that fell to `rules.maintenance.watcher
.loss_pct` get an alert with [Maintain] [Super maintain] [Skip] (`ask`) or a super
maintenance right away (`auto`); at most one per position per cooldown, remembered in
the database so a restart does not alert again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.busy import BusyPositions
from bot.config import AccountConfig, Config, WatcherMode
from bot.domain import Position
from bot.rules.watcher import due_alerts
from bot.venues.base import Venue
from db.repo import Store

RULE = "watcher"

Act = Callable[[Position], Awaitable[None]]


@dataclass(slots=True)
class PositionWatcher:
    config: Config
    account: AccountConfig
    venue: Venue
    store: Store
    clock: Callable[[], datetime]
    busy: BusyPositions
    ask: Act
    auto: Act

    async def run(self) -> None:
        settings = self.config.rules.maintenance.watcher
        name = self.account.name
        positions = list(await self.venue.positions())
        last = {}
        for record in self.store.rule_states(account=name, rule=RULE):
            for p in positions:
                if (p.symbol, p.side.value) == (record.symbol, record.side):
                    last[p.key] = datetime.fromisoformat(record.state["alerted_at"])
        now = self.clock()
        idle = [p for p in positions if (name, p.symbol, p.side.value) not in self.busy]
        for position in due_alerts(idle, settings.loss_pct, last, now,
                                   timedelta(seconds=settings.cooldown_seconds)):
            self.store.put_rule_state(name, position.symbol, position.side.value, RULE,
                                      {"alerted_at": now.isoformat()})
            mode = self.account.rules.watcher
            self.store.record_event("watcher_alert", f"profit {position.profit_rate:.2f}% "
                                    f"<= {settings.loss_pct}% ({mode})", account=name,
                                    symbol=position.symbol, side=position.side.value)
            await (self.auto if mode is WatcherMode.AUTO else self.ask)(position)
