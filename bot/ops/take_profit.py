"""Progressive take-profit and hedge loss on one account (SPEC §3–4): one read of the
positions, the two pure rules, their closes through the one close path, an event each.

A tier is recorded as fired *before* its order is sent, so a crash between sending and
hearing back can never close the same tier twice; only an order the venue refused or
that filled nothing gives the tier back. A position whose average entry changed (closed
and reopened, added to, replaced by maintenance) starts a fresh ladder; the state of a
position that is gone is removed. A close that keeps failing for the same reason is
alerted once, and once more when it goes through; an observe-mode hedge that would do
the same thing run after run is told once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.config import AccountConfig, RuleMode
from bot.domain import Position, Side
from bot.ops.close import ActionFailed, Closing
from bot.ops.context import VENUE_READ_TIMEOUT, Context
from bot.ops.events import (
    ActionSettled,
    Event,
    HedgeClosed,
    HedgeFailed,
    HedgeObserved,
    LadderReset,
    LadderRestarted,
    ProblemResolved,
    RuleSkipped,
    TierFailed,
    TierFired,
    TierObserved,
)
from bot.ops.refusal import Refusal
from bot.ops.symbols import resolve_instrument
from bot.rules.hedge import HedgeClose, hedge
from bot.rules.take_profit import (
    PositionKey,
    Tier,
    TierClose,
    TierStatus,
    ladder_status,
    take_profit,
)
from bot.venues.base import held_position

log = logging.getLogger(__name__)


def fired_count(state: dict | None, position: Position) -> int:
    """Tiers fired on this position: none if the saved ladder belongs to an earlier entry."""
    if state is None or state.get("entry") != str(position.entry_price):
        return 0
    return int(state["fired"])


def ladder_key(mode: RuleMode) -> str:
    # Observe mode keeps its own ladder: switching a rule on must not inherit tiers that
    # were only ever "would have fired".
    return "take_profit_observe" if mode is RuleMode.OBSERVE else "take_profit"


async def forget_ladders(ctx: Context, key: tuple[str, str, str]) -> None:
    """A new position on this key (maintained, reset) starts from tier 1."""
    for mode in (RuleMode.ON, RuleMode.OBSERVE):
        await ctx.store.delete_rule_state(*key, ladder_key(mode))


def ladder_for(ctx: Context, account: str, side: Side) -> list[Tier]:
    return [Tier(t.profit_pct, t.close_pct)
            for t in ctx.config.take_profit_ladder(account, side.value)]


async def tier_status(ctx: Context, account: str, position: Position) -> TierStatus | None:
    """Where a position stands on its ladder; None when take-profit is off there."""
    return (await tier_statuses(ctx, account, [position]))[0]


async def tier_statuses(ctx: Context, account: str, positions: Sequence[Position]
                        ) -> list[TierStatus | None]:
    """Where each of an account's positions stands on its ladder (None for each when
    take-profit is off there): the account's ladders read in one query, not one each."""
    mode = ctx.config.account(account).rule_mode("take_profit")
    if mode is RuleMode.OFF:
        return [None] * len(positions)
    return list(await ladder_statuses(ctx, account, positions, mode))


async def every_tier_status(ctx: Context, held: Mapping[str, Sequence[Position]]
                            ) -> dict[str, list[TierStatus | None]]:
    """`tier_statuses` of many accounts at once, the ladders read in one query per kind
    of ladder: a /positions over 200 accounts makes two queries, not 200 in a burst."""
    fired: dict[str, dict[tuple[str, str, str], dict]] = {}
    statuses: dict[str, list[TierStatus | None]] = {}
    for account, positions in held.items():
        mode = ctx.config.account(account).rule_mode("take_profit")
        if mode is RuleMode.OFF:
            statuses[account] = [None] * len(positions)
            continue
        key = ladder_key(mode)
        if key not in fired:
            fired[key] = {(r.account, r.symbol, r.side): r.state
                          for r in await ctx.store.rule_states(rule=key)}
        statuses[account] = [
            ladder_status(p, fired_count(fired[key].get((account, p.symbol, p.side.value)), p),
                          ladder_for(ctx, account, p.side),
                          ctx.config.rules.take_profit.min_margin) for p in positions]
    return statuses


async def ladder_statuses(ctx: Context, account: str, positions: Sequence[Position],
                          mode: RuleMode) -> list[TierStatus]:
    """The positions on the ladders `mode` keeps, read in one query."""
    fired = {(r.symbol, r.side): r.state
             for r in await ctx.store.rule_states(account, ladder_key(mode))}
    return [ladder_status(p, fired_count(fired.get((p.symbol, p.side.value)), p),
                          ladder_for(ctx, account, p.side),
                          ctx.config.rules.take_profit.min_margin) for p in positions]


def _where(p: Position) -> tuple[str, str, str]:
    return (p.account, p.symbol, p.side.value)


def _described(exc: Exception) -> tuple[str, str]:
    """An error's text, and what makes it "the same" as another: the venue's code."""
    cause = exc.cause if isinstance(exc, ActionFailed) else exc
    text = str(cause) or type(cause).__name__
    return text, getattr(cause, "code", None) or text


def _problem_key(rule: str, p: Position) -> str:
    return "|".join((rule, *_where(p)))  # "|": a ccxt symbol has ":" in it


@dataclass(frozen=True, slots=True)
class AccountLadders:
    """One account's ladders, for `/tp`: the mode and each position's status."""

    account: str
    venue: str
    mode: RuleMode
    positions: list[TierStatus]
    error: str | None = None


class TakeProfit:
    def __init__(self, ctx: Context, closing: Closing) -> None:
        self.ctx = ctx
        self.closing = closing
        ctx.events.subscribe(self._settled_later)

    async def _settled_later(self, event: Event) -> None:
        """A tier's close that ended in the background (its order outlived the close) and
        filled nothing gives the tier back, as one that settled at once does."""
        if not isinstance(event, ActionSettled) or event.kind != "take_profit" or event.filled:
            return
        def given_back(state: dict) -> dict | None:
            if state.get("action") != event.action:
                return None  # a later tier fired meanwhile: that one stands
            return {"fired": int(state["fired"]) - 1, "entry": state["entry"]}

        for rule in (ladder_key(RuleMode.ON), ladder_key(RuleMode.OBSERVE)):
            await self.ctx.store.change_rule_state(*event.where, rule, given_back)

    # -- the rule loop ---------------------------------------------------------------

    async def run(self, account_name: str) -> None:
        """One run on one account: at most one tier per position, then the hedges."""
        ctx, account = self.ctx, self.ctx.config.account(account_name)
        tp_mode, hedge_mode = account.rule_mode("take_profit"), account.rule_mode("hedge")
        positions = list(await ctx.venue(account.name).positions())  # the one read
        fired = await self._fired_tiers(account.name, positions, ladder_key(tp_mode))
        rules = ctx.config.rules
        if tp_mode is not RuleMode.OFF:
            for close in take_profit(positions, fired,
                                     lambda p: ladder_for(ctx, account.name, p.side),
                                     rules.take_profit.min_margin):
                await self._fire_tier(close, tp_mode)
        if hedge_mode is not RuleMode.OFF:
            closes, _ = hedge(positions, rules.hedge.keep_margin, rules.hedge.min_margin)
            for close in closes:
                await self._close_loser(close, hedge_mode)
            if hedge_mode is RuleMode.OBSERVE:  # a decision that went away may be told again
                await self._forget_alerts("hedge_observe", account.name,
                                          {_where(c.loser) for c in closes})
        await self._forget_alerts("take_profit", account.name, {_where(p) for p in positions})
        await self._forget_alerts("hedge", account.name, {_where(p) for p in positions})

    async def _fired_tiers(self, account: str, positions: list[Position],
                           rule: str) -> dict[PositionKey, int]:
        store = self.ctx.store
        saved = {(r.symbol, r.side): r.state
                 for r in await store.rule_states(account=account, rule=rule)}
        fired = {}
        for p in positions:
            state = saved.pop((p.symbol, p.side.value), None)
            if state is None:
                continue
            if state.get("entry") == str(p.entry_price):
                fired[p.key] = fired_count(state, p)
            else:
                await store.delete_rule_state(account, p.symbol, p.side.value, rule)
                await self.ctx.publish(LadderRestarted(position=p))
        for symbol, side in saved:  # positions that are gone
            await store.delete_rule_state(account, symbol, side, rule)
        return fired

    async def _fire_tier(self, close: TierClose, mode: RuleMode) -> None:
        ctx, p = self.ctx, close.position
        rule = ladder_key(mode)
        state = {"fired": close.tier, "entry": str(p.entry_price)}
        given_back = {"fired": close.tier - 1, "entry": str(p.entry_price)}
        if mode is RuleMode.OBSERVE:
            await ctx.store.put_rule_state(*_where(p), rule, state)
            await ctx.publish(TierObserved(position=p, decision=close))
            return
        if not await self._unchanged(p, "tp"):
            return
        try:
            closed = await self.closing.close(
                p, close.size, kind="take_profit", origin="rule",
                plan={"tier": close.tier, "size": str(close.size)},
                journaled=lambda action: ctx.store.put_rule_state(
                    *_where(p), rule, state | {"action": action}))
        except Refusal:  # taken by another action meanwhile: decided again next run
            await ctx.publish(RuleSkipped(position=p, rule="tp", why="busy"))
            return
        except Exception as exc:  # the run goes on with the other positions
            action = exc.action if isinstance(exc, ActionFailed) else None
            if action is None or not await self.closing.sent_anything(action):
                await ctx.store.put_rule_state(*_where(p), rule, given_back)  # nothing sent
            log.exception("tp_error account=%s symbol=%s", p.account, p.symbol)
            await self._failed(TierFailed, p, close, action, *_described(exc))
            return
        result = closed.result
        if result.filled_size == 0 and result.settled:
            # Certainly nothing was closed: the tier may fire again on a later run. An order
            # of unknown fate keeps the tier fired: a missed tier costs less than a double.
            await ctx.store.put_rule_state(*_where(p), rule, given_back)
        if result.filled_size == 0:
            error = "; ".join(result.errors)
            await self._failed(TierFailed, p, close, closed.action, error, result.problem)
            return
        await ctx.publish(TierFired(position=p, action=closed.action, decision=close,
                                    result=result))
        await self._resolved("take_profit", p)

    async def _close_loser(self, close: HedgeClose, mode: RuleMode) -> None:
        ctx, loser = self.ctx, close.loser
        if mode is RuleMode.OBSERVE:
            if await ctx.alerts.report(_problem_key("hedge_observe", loser), str(close.size)):
                await ctx.publish(HedgeObserved(position=loser, decision=close))
            return
        if not await self._unchanged(loser, "hedge") or \
                not await self._unchanged(close.winner, "hedge"):
            return
        try:
            closed = await self.closing.close(loser, close.size, kind="hedge", origin="rule",
                                              plan={"size": str(close.size)})
        except Refusal:
            await ctx.publish(RuleSkipped(position=loser, rule="hedge", why="busy"))
            return
        except Exception as exc:  # the run goes on with the other positions
            log.exception("hedge_error account=%s symbol=%s", loser.account, loser.symbol)
            await self._failed(HedgeFailed, loser, close,
                               exc.action if isinstance(exc, ActionFailed) else None,
                               *_described(exc))
            return
        result = closed.result
        if result.filled_size == 0:
            await self._failed(HedgeFailed, loser, close, closed.action,
                               "; ".join(result.errors), result.problem)
            return
        await ctx.publish(HedgeClosed(position=loser, action=closed.action, decision=close,
                                      result=result))
        await self._resolved("hedge", loser)

    async def _unchanged(self, seen: Position, rule: str) -> bool:
        """SPEC §8: read the position again right before acting. A close earlier in this
        run may have taken a while, and the trader or another action may have changed it.
        A position another action is working on (a maintenance, a /close) is left alone."""
        if _where(seen) in self.ctx.busy:
            await self.ctx.publish(RuleSkipped(position=seen, rule=rule, why="busy"))
            return False
        now = await held_position(self.ctx.venue(seen.account), seen.symbol, seen.side)
        if now is not None and (now.size, now.entry_price) == (seen.size, seen.entry_price):
            return True
        await self.ctx.publish(RuleSkipped(position=seen, rule=rule, why="changed"))
        return False

    async def _failed(self, event: type[TierFailed] | type[HedgeFailed], p: Position,
                      decision: TierClose | HedgeClose, action: int | None, error: str,
                      signature: str) -> None:
        """Recorded every time; alerted once per problem (a new reason alerts again)."""
        rule = "take_profit" if event is TierFailed else "hedge"
        tell = await self.ctx.alerts.report(_problem_key(rule, p), signature)
        await self.ctx.publish(event(position=p, action=action, decision=decision,  # type: ignore[arg-type]
                                     error=error, repeat=not tell))

    async def _resolved(self, rule: str, p: Position) -> None:
        cleared = await self.ctx.alerts.clear(_problem_key(rule, p))
        if cleared is not None:
            await self.ctx.publish(ProblemResolved(
                kind=rule, problem=cleared.signature, since=cleared.first_at, count=cleared.count,
                where=_where(p)))

    async def _forget_alerts(self, rule: str, account: str, still: set[tuple[str, str, str]]
                             ) -> None:
        """Open alerts of positions (or decisions) that are gone: nothing to resolve."""
        for key in self.ctx.alerts.keys(f"{rule}|{account}|"):
            if tuple(key.split("|", 1)[1].rsplit("|", 2)) not in still:
                await self.ctx.alerts.clear(key)

    # -- what /tp shows and does ------------------------------------------------------

    async def ladders(self, symbol: str | None = None) -> list[AccountLadders]:
        """Each account's ladders (only positions on `symbol` when given)."""
        return [a for a in await asyncio.gather(*(self._ladders(a, symbol)
                                                  for a in self.ctx.config.accounts)) if a]

    async def _ladders(self, account: AccountConfig, symbol: str | None
                       ) -> AccountLadders | None:
        venue = self.ctx.venue(account.name)
        mode = account.rule_mode("take_profit")
        try:
            positions = await asyncio.wait_for(venue.positions(), VENUE_READ_TIMEOUT)
            if symbol is not None:
                wanted = resolve_instrument(symbol, await venue.instruments()).symbol
                positions = [p for p in positions if p.symbol == wanted]
        except Refusal:
            return None
        except Exception as exc:  # a report names any failure; it never raises
            return AccountLadders(account.name, venue.venue, mode, [],
                                  str(exc) or type(exc).__name__)
        if not positions:
            return None
        ordered = sorted(positions, key=lambda p: (p.symbol, p.side.value))
        return AccountLadders(account.name, venue.venue, mode,
                              await ladder_statuses(self.ctx, account.name, ordered, mode))

    async def reset(self, key: tuple[str, str, str], by_user: int) -> None:
        """Clear a position's ladder: its tiers fire again from tier 1."""
        await forget_ladders(self.ctx, key)
        await self.ctx.publish(LadderReset(key=key, by_user=by_user))

