"""Grid hedge (SPEC §10, seed 001) on one configured grid: a run looks at each of the
grid's resting orders by client id, answers those that ended with something filled (a
BUY's SELL hedge, a SELL's BUY again) through the pure rule, and places the orders it
decided through the executor, resting; every decision, placed or not, is an event.

The grid is one journaled action (kind `grid`) that lives as long as the grid: each order
is one of its steps, `<direction>:<level>` its kind, so a restart knows every level's
order from the journal and the venue, never from memory. Observe mode decides and tells
only. The action is the grid job's own: a start's reconciliation leaves it alone.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.config import GridConfig, RuleMode
from bot.domain import (
    Instrument,
    OrderRequest,
    OrderSide,
    OrderState,
    OrderType,
    Side,
    TimeInForce,
)
from bot.execution import Outcome
from bot.ops.context import Context
from bot.ops.events import GridDecided, GridOrderEnded, LedgerDrift, LedgerHealed
from bot.ops.refusal import Refusal
from bot.ops.symbols import resolve_instrument
from bot.rules.grid import (
    Direction,
    Ended,
    Grid,
    Place,
    Resting,
    Skip,
    Why,
    after_fills,
    facts,
    start,
)
from bot.venues.base import Venue, VenueError, held_position

KIND = "grid"
OPEN_STATES = ("intended", "sent")


@dataclass(frozen=True, slots=True)
class GridReport:
    """What `/grid` shows of one grid: from its journal, and the venue's position."""

    config: GridConfig
    symbol: str
    mode: RuleMode
    resting: list[tuple[Direction, int, Decimal, Decimal]]  # direction, level, price, size
    ledger: Decimal  # what the grid says it holds
    held: Decimal | None  # what the venue holds long (None: not readable now)
    realized_pnl: Decimal
    fees: Decimal


def grid_of(config: GridConfig, sell_protection_ratio: Decimal, inst: Instrument) -> Grid:
    """The configured size is coin, as a trader says it; orders are in the venue's
    contracts (OKX's BTC: 0.01 coin each; Bitget and Lighter: one coin)."""
    return Grid(config.name, inst.symbol, Side(config.leg), config.size / inst.contract_value,
                tuple(config.buy_levels), tuple(config.sell_levels), sell_protection_ratio)


class Grids:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def config(self, name: str) -> GridConfig:
        return next(g for g in self.ctx.config.grids if g.name == name)

    async def reports(self, name: str | None = None) -> list[GridReport]:
        """Each grid (or the one named): its resting orders, holdings, realised PnL."""
        configs = [g for g in self.ctx.config.grids
                   if name is None or g.name.lower() == name.lower()]
        if name is not None and not configs:
            raise Refusal("unknown_grid", name=name[:40],
                          names=", ".join(g.name for g in self.ctx.config.grids) or "-")
        return [await self._report(c) for c in configs]

    async def _report(self, config: GridConfig) -> GridReport:
        ctx, venue = self.ctx, self.ctx.venue(config.account)
        mode = ctx.config.account(config.account).rule_mode("grid")
        try:
            symbol = resolve_instrument(config.symbol, await venue.instruments()).symbol
            held: Decimal | None = await self._long_held(venue, symbol)
        except (VenueError, Refusal):
            symbol, held = config.symbol, None
        state = await ctx.store.get_rule_state(config.account, symbol, config.leg,
                                               f"{KIND}:{config.name}")
        record = await ctx.store.action_with_steps(int(state["action"])) if state else None
        if record is None:
            return GridReport(config, symbol, mode, [], Decimal(0), held, Decimal(0),
                              Decimal(0))
        orders = {o.step_id: o.order for o in await ctx.store.orders_for_action(record.id)}
        resting = []
        for step in record.steps:
            order = orders.get(step.id)
            if step.state.value in OPEN_STATES and order is not None:
                direction, level = _level_of(step.kind)
                resting.append((direction, level, order.price or Decimal(0), order.size))
        fills = [f.fill for f in await ctx.store.fills_for_orders(
            config.account, [o.client_id for o in orders.values()])]
        return GridReport(config, symbol, mode, resting, self._ledger(record, orders.values()),
                          held, sum((f.realized_pnl for f in fills), Decimal(0)),
                          sum((f.fee for f in fills), Decimal(0)))

    @staticmethod
    def _ledger(record: Any, orders: Any) -> Decimal:
        """What the account held long when the grid started, plus what its BUYs filled,
        less what its SELLs filled."""
        return Decimal(record.plan.get("baseline", "0")) + sum(
            (o.filled_size if o.side is OrderSide.BUY else -o.filled_size for o in orders),
            Decimal(0))

    async def run(self, name: str) -> None:
        ctx, config = self.ctx, self.config(name)
        venue = ctx.venue(config.account)
        inst = resolve_instrument(config.symbol, await venue.instruments())
        grid = grid_of(config, ctx.config.rules.grid.sell_protection_ratio, inst)
        mode = ctx.config.account(config.account).rule_mode("grid")
        action, steps = await self._journal(venue, config, inst.symbol)
        resting, ended = await self._look(venue, grid, steps)
        if not steps:
            decisions = start(grid, resting, await venue.mark_price(inst.symbol), inst)
        else:
            long_held = await self._long_held(venue, inst.symbol)  # after what just filled
            await self._compare(grid, action, long_held)
            decisions = after_fills(grid, ended, resting, long_held, inst)
        seq = max((s.seq for s in steps), default=0)
        for decision in decisions:
            observed = mode is RuleMode.OBSERVE
            if observed and not await ctx.alerts.report(  # the same decision, run after run
                    f"grid_observe|{name}|{decision.direction.value}|{decision.level}",
                    type(decision).__name__):
                continue
            client_id = None
            if isinstance(decision, Place) and not observed:
                seq += 1
                outcome = await ctx.executor.order_step(
                    venue, action, seq, f"{decision.direction.value}:{decision.level}",
                    _request(grid, decision, inst), rest=True)
                decision, client_id = _as_sent(decision, outcome), outcome.client_id
            await ctx.publish(GridDecided(grid=name, account_name=config.account,
                                          symbol_name=inst.symbol, decision=decision,
                                          observed=observed, client_id=client_id))

    async def _long_held(self, venue: Venue, symbol: str) -> Decimal:
        held = await held_position(venue, symbol, Side.LONG)
        return held.size if held is not None else Decimal(0)

    async def _compare(self, grid: Grid, action: int, long_held: Decimal) -> None:
        """The ledger against the venue, every run (long grids): what the account held when
        the grid started, plus what its BUYs filled, less what its SELLs filled. A
        difference is told once per episode, with both numbers, and once more when it
        heals (a trade by hand, a fill the grid never saw)."""
        if grid.leg is not Side.LONG:
            return
        ctx = self.ctx
        record = await ctx.store.action_with_steps(action)
        ledger = self._ledger(record, [o.order for o in await ctx.store.orders_for_action(action)])
        key = f"ledger_drift|{grid.name}"
        if ledger != long_held:
            if await ctx.alerts.report(key, "drift"):
                await ctx.publish(LedgerDrift(grid=grid.name, account_name=record.account,
                                              symbol_name=grid.symbol, ledger=ledger,
                                              venue=long_held))
        elif await ctx.alerts.clear(key) is not None:
            await ctx.publish(LedgerHealed(grid=grid.name, account_name=record.account,
                                           symbol_name=grid.symbol, held=long_held))

    async def _journal(self, venue: Venue, config: GridConfig, symbol: str
                       ) -> tuple[int, list[Any]]:
        """The grid's action (made on its first run, with what was held long then) and
        its steps."""
        store, key = self.ctx.store, (config.account, symbol, config.leg)
        state = await store.get_rule_state(*key, f"{KIND}:{config.name}")
        record = await store.action_with_steps(int(state["action"])) if state else None
        if record is None:
            baseline = await self._long_held(venue, symbol)
            action = await store.create_action(KIND, config.account, symbol, config.leg, "rule",
                                               {"grid": config.name, "baseline": str(baseline)})
            await store.update_action(action, state="running")
            await store.put_rule_state(*key, f"{KIND}:{config.name}", {"action": action})
            return action, []
        return record.id, list(record.steps)

    async def _look(self, venue: Venue, grid: Grid, steps: list[Any]
                    ) -> tuple[list[Resting], list[Ended]]:
        """Each open order as the venue has it now: still resting, or ended (and what it
        filled). One the venue cannot find this run still counts as resting, so its level
        is not ordered twice; only a lost one frees its level. The orders are looked at
        together: a grid of forty levels waits for one round trip, not forty."""
        open_steps = [st for st in steps
                      if st.state.value in OPEN_STATES and st.client_id is not None]
        looks = await asyncio.gather(*(self.ctx.executor.track(venue, st) for st in open_steps))
        resting, ended = [], []
        for step, tracked in zip(open_steps, looks, strict=True):
            direction, level = _level_of(step.kind)
            order = tracked.order
            if order is not None and order.state.is_final:
                ended.append(Ended(direction, level, order.filled_size))
                await self.ctx.publish(GridOrderEnded(
                    grid=grid.name, account_name=venue.name, symbol_name=grid.symbol,
                    direction=direction, level=level, order=order))
            elif not tracked.lost:
                resting.append(Resting(direction, level, grid.leg))
        return resting, ended


def _as_sent(decision: Place, outcome: Outcome) -> Place | Skip:
    """An order the venue refused (margin, size, precision: its code and words) is a
    rejection, not a placed order; one of unknown fate is placed: the next run finds it."""
    refused = outcome.refused or outcome.state is OrderState.REJECTED
    if not refused:
        return decision
    error = outcome.error
    return Skip(decision.direction, decision.level, Why.REJECTED, decision.after,
                facts(size=decision.size, price=decision.price,
                      code=(error.code if error else None) or "-",
                      reason=(error.message if error else "rejected")[:200]))


def _level_of(kind: str) -> tuple[Direction, int]:
    direction, level = kind.split(":", 1)
    return Direction(direction), int(level)


def _request(grid: Grid, order: Place, inst: Instrument) -> OrderRequest:
    """A resting limit order; in a long grid a SELL only ever reduces the long."""
    selling = order.direction is Direction.SELL
    return OrderRequest("", inst.symbol, order.direction.order_side, grid.leg,
                        OrderType.LIMIT, order.size, order.price,
                        reduce_only=selling == (grid.leg is Side.LONG),
                        time_in_force=TimeInForce.GTC)
