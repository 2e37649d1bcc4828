"""The take-profit and hedge job of one account (SPEC §3–4): one read of the positions,
the two pure rules, their closes through the one close procedure, a message each.

A tier is recorded as fired *before* its order is sent, so a crash between sending and
hearing back can never close the same tier twice; only an order the venue refused or
that filled nothing gives the tier back. A position whose average entry changed (closed
and reopened, added to, replaced by maintenance) starts a fresh ladder; the state of a
position that is gone is removed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from bot import messages
from bot.busy import BusyPositions
from bot.closing import CloseResult, execute_close, plan_close
from bot.config import AccountConfig, Config, RuleMode
from bot.domain import Position
from bot.execution import Executor
from bot.messages import fmt_fee, fmt_pct, fmt_plain, fmt_signed_usdt, fmt_usdt, size_text
from bot.rules.hedge import HedgeClose, hedge
from bot.rules.take_profit import PositionKey, Tier, TierClose, take_profit
from bot.venues.base import Venue
from db.repo import Store

log = logging.getLogger(__name__)

Notify = Callable[[str, str], Awaitable[None]]  # (alert kind, text)


def fired_count(state: dict | None, position: Position) -> int:
    """Tiers fired on this position: none if the saved ladder belongs to an earlier entry."""
    if state is None or state.get("entry") != str(position.entry_price):
        return 0
    return int(state["fired"])


def ladder_key(mode: RuleMode) -> str:
    # Observe mode keeps its own ladder: switching a rule on must not inherit tiers that
    # were only ever "would have fired".
    return "take_profit_observe" if mode is RuleMode.OBSERVE else "take_profit"


@dataclass(slots=True)
class ProfitRules:
    config: Config
    account: AccountConfig
    venue: Venue
    store: Store
    executor: Executor
    notify: Notify
    clock: Callable[[], datetime]
    busy: BusyPositions

    @property
    def lang(self) -> str:
        return self.store.language(self.config.language)

    def text(self, key: str, **values: object) -> str:
        return messages.text(self.lang, key, **values)

    def ladder_for(self, position: Position) -> list[Tier]:
        return [Tier(t.profit_pct, t.close_pct) for t in
                self.config.take_profit_ladder(self.account.name, position.side.value)]

    async def run(self) -> None:
        tp_mode = self.account.rule_mode("take_profit")
        hedge_mode = self.account.rule_mode("hedge")
        positions = list(await self.venue.positions())  # the one read of this run
        fired = self.fired_tiers(positions, ladder_key(tp_mode))
        settings = self.config.rules
        if tp_mode is not RuleMode.OFF:
            for close in take_profit(positions, fired, self.ladder_for,
                                     settings.take_profit.min_margin):
                await self.fire_tier(close, tp_mode)
        if hedge_mode is not RuleMode.OFF:
            closes, _ = hedge(positions, settings.hedge.keep_margin, settings.hedge.min_margin)
            for close in closes:
                await self.close_loser(close, hedge_mode)

    def fired_tiers(self, positions: list[Position], rule: str) -> dict[PositionKey, int]:
        account = self.account.name
        saved = {(r.symbol, r.side): r.state
                 for r in self.store.rule_states(account=account, rule=rule)}
        fired = {}
        for p in positions:
            state = saved.pop((p.symbol, p.side.value), None)
            if state is None:
                continue
            if state.get("entry") == str(p.entry_price):
                fired[p.key] = fired_count(state, p)
            else:
                self.store.delete_rule_state(account, p.symbol, p.side.value, rule)
                self.store.record_event("tp_ladder_restarted", f"{p.symbol} {p.side}: new entry "
                                        f"{p.entry_price}", account=account, symbol=p.symbol,
                                        side=p.side.value)
        for symbol, side in saved:  # positions that are gone
            self.store.delete_rule_state(account, symbol, side, rule)
        return fired

    async def fire_tier(self, close: TierClose, mode: RuleMode) -> None:
        p, account = close.position, self.account.name
        rule = ladder_key(mode)
        state = {"fired": close.tier, "entry": str(p.entry_price)}
        names = self._names(p) | {
            "tier": close.tier, "rate": fmt_pct(p.profit_rate), "margin": fmt_usdt(p.margin),
            "closing": self._size(p, close.size)}
        if mode is RuleMode.OBSERVE:
            self.store.put_rule_state(account, p.symbol, p.side.value, rule, state)
            self.store.record_event("tp_would_fire", f"tier {close.tier}: would close "
                                    f"{close.size} of {p.size}", account=account,
                                    symbol=p.symbol, side=p.side.value)
            await self.notify("take_profit", self.text("tp_observe", **names))
            return
        if not await self._unchanged(p, "tp"):
            return
        action = self.store.create_action("take_profit", account, p.symbol, p.side.value, "rule",
                                          {"tier": close.tier, "size": str(close.size)})
        self.store.put_rule_state(account, p.symbol, p.side.value, rule, state | {
            "action": action})
        try:
            with self.busy.hold(_key(p)):
                result = await self._close(action, p, close.size)
        except Exception as exc:  # the run goes on with the other positions
            if not self._sent_anything(action):  # nothing sent: the tier is given back
                self.store.put_rule_state(account, p.symbol, p.side.value, rule,
                                          {"fired": close.tier - 1, "entry": str(p.entry_price)})
            await self._failed(action, p, "take_profit", "tp_failed", exc, names)
            return
        if result.filled_size == 0 and result.settled:
            # Certainly nothing was closed: the tier may fire again on a later run. An order
            # of unknown fate keeps the tier fired: a missed tier costs less than a double.
            self.store.put_rule_state(account, p.symbol, p.side.value, rule,
                                      {"fired": close.tier - 1, "entry": str(p.entry_price)})
        self.store.record_event("tp_fired" if result.filled_size else "tp_failed",
                                f"tier {close.tier}: closed {result.filled_size} of "
                                f"{close.size}; {'; '.join(result.errors)}".strip("; "),
                                account=account, symbol=p.symbol, side=p.side.value,
                                action_id=action)
        await self.notify("take_profit", self._report("tp_done", "tp_failed", p, result, names))

    async def close_loser(self, close: HedgeClose, mode: RuleMode) -> None:
        loser, account = close.loser, self.account.name
        names = self._names(loser) | {
            "winner_rate": fmt_pct(close.winner.profit_rate),
            "winner_side": self.text(close.winner.side.value),
            "loser_rate": fmt_pct(loser.profit_rate), "share": fmt_pct(close.share_pct),
            "closing": self._size(loser, close.size), "keep": self._size(loser, close.keep)}
        if mode is RuleMode.OBSERVE:
            self.store.record_event("hedge_would_close", f"would close {close.size} of "
                                    f"{loser.size}", account=account, symbol=loser.symbol,
                                    side=loser.side.value)
            await self.notify("hedge", self.text("hedge_observe", **names))
            return
        if not await self._unchanged(loser, "hedge") or \
                not await self._unchanged(close.winner, "hedge"):
            return
        action = self.store.create_action("hedge", account, loser.symbol, loser.side.value,
                                          "rule", {"size": str(close.size)})
        try:
            with self.busy.hold(_key(loser)):
                result = await self._close(action, loser, close.size)
        except Exception as exc:  # the run goes on with the other positions
            await self._failed(action, loser, "hedge", "hedge_failed", exc, names)
            return
        self.store.record_event("hedge_closed" if result.filled_size else "hedge_failed",
                                f"closed {result.filled_size} of {close.size} "
                                f"({'; '.join(result.errors)})", account=account,
                                symbol=loser.symbol, side=loser.side.value, action_id=action)
        await self.notify("hedge", self._report("hedge_done", "hedge_failed", loser, result,
                                                names))

    async def _unchanged(self, seen: Position, rule: str) -> bool:
        """SPEC §8: read the position again right before acting. A close earlier in this
        run may have taken a while, and the trader or another action may have changed it.
        A position another action is working on (a maintenance, a /close) is left alone."""
        if _key(seen) in self.busy:
            self.store.record_event(f"{rule}_skipped_busy", "another action is working on "
                                    "this position", account=seen.account, symbol=seen.symbol,
                                    side=seen.side.value)
            return False
        now = next((p for p in await self.venue.positions() if p.key == seen.key), None)
        if now is not None and (now.size, now.entry_price) == (seen.size, seen.entry_price):
            return True
        self.store.record_event(f"{rule}_skipped_changed", "the position changed since the run "
                                "read it; decided again next run", account=seen.account,
                                symbol=seen.symbol, side=seen.side.value)
        return False

    def _sent_anything(self, action: int) -> bool:
        record = self.store.action_with_steps(action)
        return record is not None and any(st.state != "failed" for st in record.steps)

    async def _failed(self, action: int, p: Position, kind: str, key: str, exc: Exception,
                      names: dict[str, object]) -> None:
        log.exception("%s_error account=%s symbol=%s", kind, p.account, p.symbol)
        self.store.update_action(action, state="failed", error=str(exc)[:500])
        self.store.record_event(key, str(exc)[:500], account=p.account, symbol=p.symbol,
                                side=p.side.value, severity="error", action_id=action)
        await self.notify(kind, self.text(key, error=str(exc) or type(exc).__name__, **names))

    async def _close(self, action: int, position: Position, size) -> CloseResult:
        settings = self.config.rules.close
        self.store.update_action(action, state="running")
        book = await self.venue.order_book(position.symbol, settings.book_levels)
        plan = plan_close(position, size, book, settings, self.clock())
        result = await execute_close(self.executor, self.venue, action, plan, settings)
        state = ("done" if result.unfilled_size == 0 else
                 "partial" if result.filled_size else "failed")
        self.store.update_action(action, state=state, result={
            "filled": str(result.filled_size), "fee": str(result.fee),
            "pnl": str(result.realized_pnl), "errors": result.errors})
        return result

    def _names(self, p: Position) -> dict[str, object]:
        return {"symbol": p.symbol, "side": self.text(p.side.value), "account": p.account,
                "before": self._size(p, p.size)}

    def _size(self, p: Position, contracts) -> str:
        return size_text(self.lang, contracts, p.instrument)

    def _report(self, done: str, failed: str, p: Position, result: CloseResult,
                names: dict[str, object]) -> str:
        orders = ", ".join(o.order.venue_id for o in result.outcomes if o.order is not None)
        if result.filled_size == 0:
            return self.text(failed, error="; ".join(result.errors)
                             or self.text("nothing_filled"), **names)
        return self.text(done, closed=self._size(p, result.filled_size),
                         price=fmt_plain(result.average_price or 0), fee=fmt_fee(result.fee),
                         pnl=fmt_signed_usdt(result.realized_pnl),
                         left=self._size(p, p.size - result.filled_size), orders=orders or "-",
                         **names)


def _key(p: Position) -> tuple[str, str, str]:
    return (p.account, p.symbol, p.side.value)
