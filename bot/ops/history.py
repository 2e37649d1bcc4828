"""What the bot did and what it earned, from the journal and the recorded fills:
`/history` (recent actions of every kind with their orders) and `/pnl` (realised PnL and
fees by day, account and instrument). Both read the database only; every figure is a sum
of recorded fills, so the two views and the fills agree to the last digit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from bot.domain import ZERO, Fill, Order
from bot.ops.context import Context
from bot.ops.refusal import Refusal
from bot.ops.symbols import is_coin
from db.records import ActionRecord

PERIODS = {"today": None, "7d": 7, "30d": 30, "all": None}
MAX_ACTIONS = 50


@dataclass(frozen=True, slots=True)
class Totals:
    """Realised PnL and fees of some fills; `net` is what they leave."""

    realized_pnl: Decimal = ZERO
    fee: Decimal = ZERO
    fills: int = 0

    @property
    def net(self) -> Decimal:
        return self.realized_pnl - self.fee

    def __add__(self, fill: Fill) -> Totals:
        return Totals(self.realized_pnl + fill.realized_pnl, self.fee + fill.fee,
                      self.fills + 1)


def totals(fills: Iterable[Fill]) -> Totals:
    total = Totals()
    for fill in fills:
        total += fill
    return total


@dataclass(frozen=True, slots=True)
class PastAction:
    """One action with its orders (as last recorded) and what their fills add up to."""

    action: ActionRecord
    orders: list[Order]
    filled: Decimal  # contracts, all orders together
    average_price: Decimal | None
    totals: Totals


@dataclass(frozen=True, slots=True)
class PnlReport:
    period: str
    since: datetime | None
    days: list[tuple[date, Totals]]  # oldest first
    accounts: list[tuple[str, Totals]]
    instruments: list[tuple[str, Totals]]
    total: Totals


class History:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def recent(self, count: int = 10, account: str | None = None,
                     symbol: str | None = None) -> list[PastAction]:
        """The newest `count` actions (of every kind), newest first."""
        if not 1 <= count <= MAX_ACTIONS:
            raise Refusal("history_count", count=count, most=MAX_ACTIONS)
        store = self.ctx.store
        if account is not None:
            account = self._account(account)
        symbols = None
        if symbol is not None:
            symbols = [s for s in await store.action_symbols() if is_coin(s, symbol)]
            if not symbols:
                raise Refusal("history_no_symbol", symbol=symbol.upper()[:30])
        return [await self._past(a)
                for a in await store.recent_actions(count, account, symbols)]

    async def _past(self, action: ActionRecord) -> PastAction:
        store = self.ctx.store
        orders = [r.order for r in await store.orders_for_action(action.id)]
        fills = [f.fill for f in await store.fills_for_orders(
            action.account, [o.client_id for o in orders])]
        filled = sum((o.filled_size for o in orders), ZERO)
        priced = sum((o.filled_size * o.average_price for o in orders
                      if o.average_price is not None and o.filled_size), ZERO)
        average = priced / filled if filled and priced else None
        return PastAction(action, orders, filled, average, totals(fills))

    def _account(self, name: str) -> str:
        try:
            return self.ctx.config.account(name).name
        except KeyError:
            raise Refusal("unknown_account", name=name[:40], names=", ".join(
                a.name for a in self.ctx.config.accounts)) from None

    async def pnl(self, period: str = "today") -> PnlReport:
        """Realised PnL and fees of the fills in `period` (today — since 00:00 UTC —, 7d,
        30d or all), by UTC day, by account and by instrument."""
        period = period.lower()
        if period not in PERIODS:
            raise Refusal("pnl_period", period=period[:20])
        now = self.ctx.clock()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        days_back = PERIODS[period]
        since = (midnight if period == "today" else
                 None if days_back is None else midnight - timedelta(days=days_back - 1))
        records = await self.ctx.store.fills_since(since)
        by_day: dict[date, Totals] = defaultdict(Totals)
        by_account: dict[str, Totals] = defaultdict(Totals)
        by_symbol: dict[str, Totals] = defaultdict(Totals)
        for record in records:
            fill = record.fill
            by_day[fill.time.date()] += fill
            by_account[record.account] += fill
            by_symbol[fill.symbol] += fill
        return PnlReport(period, since, sorted(by_day.items()), sorted(by_account.items()),
                         sorted(by_symbol.items()), totals(r.fill for r in records))
