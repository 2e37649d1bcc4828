"""The paper exchange: an isolated-margin perpetual-swap venue in memory.

One engine holds every paper account (main and subs), the market, the orders and the
fills; it behaves like OKX in long/short position mode and answers with OKX's error
codes. It is synchronous on purpose: the async `PaperVenue` and the fake OKX server are
thin doors onto it, so the same simulation serves the demo, the tests and the fakes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from bot.domain import (
    ZERO,
    Balance,
    Candle,
    Fill,
    Instrument,
    Liquidity,
    MarginChange,
    Order,
    OrderBook,
    OrderRequest,
    OrderSide,
    OrderState,
    OrderType,
    Position,
    Side,
    TimeInForce,
)
from bot.sizing import is_lot_multiple, is_tick_multiple, margin_for, notional
from bot.venues.okx.codes import okx_error
from bot.venues.paper.faults import Faults
from bot.venues.paper.ledger import PaperAccount
from bot.venues.paper.market import BookShape, Market
from bot.venues.paper.orders import PaperOrder

VENUE = "paper"


@dataclass(frozen=True, slots=True)
class FeeRates:
    maker: Decimal = Decimal("0.0002")
    taker: Decimal = Decimal("0.0005")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PaperExchange:
    def __init__(self, instruments: list[Instrument], marks: dict[str, Decimal], *,
                 seed: int = 7, step: Decimal = Decimal("0.002"),
                 clock: Callable[[], datetime] = _utcnow, fees: FeeRates | None = None,
                 book_shape: BookShape | None = None) -> None:
        self.instruments = {i.symbol: i for i in instruments}
        self.clock = clock
        # Late-bound: a test may give the exchange another clock, and the prices' history
        # keeps time by whichever it has now.
        self.market = Market(self.instruments, marks, clock=lambda: self.clock(), seed=seed,
                             step=step, shape=book_shape)
        self.fees = fees or FeeRates()
        self.faults = Faults()
        self.accounts: dict[str, PaperAccount] = {}
        self.orders: dict[str, PaperOrder] = {}  # venue id -> order, every account
        self.client_ids: dict[tuple[str, str], str] = {}  # (account, client id) -> venue id
        self.fills: dict[str, list[Fill]] = {}  # account -> fills, oldest first
        self.resting: dict[str, list[PaperOrder]] = {s: [] for s in self.instruments}
        self.next_id = 1
        self.dirty = False  # state changed since the last save (see store.py)
        # Told after each change of marks, positions or orders (see add_listener).
        self._listeners: list[Callable[[], None]] = []

    # -- change listeners ---------------------------------------------------------------

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener()` after every change of marks, positions, orders or accounts.

        For streaming doors (the fake OKX websocket): a listener only learns *that*
        something changed, reads the state it cares about later, and must be cheap, as it
        runs inside the engine's synchronous calls."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):  # a listener may remove itself
            listener()

    # -- accounts and reads -----------------------------------------------------------

    def add_account(self, name: str, cash: Decimal) -> PaperAccount:
        if name in self.accounts:
            raise ValueError(f"paper account {name!r} exists already")
        account = PaperAccount(name=name, cash=cash)
        self.accounts[name] = account
        self.fills[name] = []
        self.dirty = True
        self._changed()
        return account

    def account(self, name: str) -> PaperAccount:
        try:
            return self.accounts[name]
        except KeyError:
            raise okx_error("50101", f"no paper account named {name!r}", venue=VENUE) from None

    def instrument(self, symbol: str) -> Instrument:
        try:
            return self.instruments[symbol]
        except KeyError:
            raise okx_error("51001", f"Instrument ID {symbol} does not exist",
                            venue=VENUE) from None

    def positions(self, account: str) -> list[Position]:
        acct = self.account(account)
        return [acct.snapshot(self.instruments[p.symbol], p, self.market.mark(p.symbol))
                for p in acct.positions.values() if p.size > 0]

    def balance(self, account: str) -> Balance:
        acct = self.account(account)
        in_positions = sum((p.margin + p.unrealized_pnl for p in self.positions(account)), ZERO)
        return Balance(currency="USDT", equity=acct.cash + in_positions, free=acct.free)

    def order_book(self, symbol: str, depth: int = 5) -> OrderBook:
        self.instrument(symbol)
        bids, asks = self.market.book(symbol, depth)
        return OrderBook(symbol=symbol, bids=bids, asks=asks, time=self.clock())

    def candles(self, symbol: str, bar: str, limit: int) -> list[Candle]:
        self.instrument(symbol)
        return self.market.history.candles(symbol, bar, limit)

    def seed_position(self, account: str, symbol: str, side: Side, size: Decimal,
                      entry_price: Decimal, leverage: Decimal,
                      margin: Decimal | None = None) -> None:
        """Put a position on the books without trading (demo portfolio, test set-ups).
        The margin comes out of the account's cash like a real open would take it."""
        acct, inst = self.account(account), self.instrument(symbol)
        acct.leverage[(symbol, side)] = leverage
        acct.apply_open(inst, side, size, entry_price, ZERO)
        pos = acct.positions[(symbol, side)]
        if margin is not None:
            acct.cash -= margin - pos.margin
            pos.margin = margin
        self.dirty = True
        self._changed()

    # -- orders -----------------------------------------------------------------------

    def place_order(self, account: str, req: OrderRequest) -> Order:
        accepted = self.next_id
        try:
            return self._place(account, req)
        finally:
            if self.next_id != accepted:  # an order was accepted (and maybe filled)
                self._changed()

    def _place(self, account: str, req: OrderRequest) -> Order:
        acct = self.account(account)
        existing = self.client_ids.get((account, req.client_id))
        if existing is not None:
            return self.orders[existing].to_order()
        rejection = self.faults.take_rejection(account)
        if rejection is not None:
            raise okx_error(rejection[0], rejection[1], venue=VENUE)
        inst = self.instrument(req.symbol)
        self._validate(acct, inst, req)

        now = self.clock()
        order = PaperOrder(
            venue_id=str(self.next_id), account=account, client_id=req.client_id,
            symbol=req.symbol, side=req.side, position_side=req.position_side, type=req.type,
            size=req.size, price=req.price, reduce_only=req.reduce_only,
            time_in_force=req.time_in_force, expire_at=req.expire_at,
            created_at=now, updated_at=now, stuck=self.faults.fills_blocked(account),
        )
        if order.stuck:
            self._reserve_or_reject(acct, inst, order, self._resting_cost(inst, order))
            self._accept(order)
            self._rest(order)
            return order.to_order()

        limit = req.price
        executions = self.market.take(req.symbol, req.side, req.size, limit, dry_run=True)
        if order.opens:
            cost = sum((margin_for(q, p, acct.leverage_for(req.symbol, req.position_side), inst)
                        + notional(q, p, inst) * self.fees.taker for p, q in executions), ZERO)
            rest = req.size - sum((q for _, q in executions), ZERO)
            if self._keeps_resting(order) and rest > 0:
                cost += self._resting_cost(inst, order, rest)
            if cost > acct.free:
                raise okx_error("51008", venue=VENUE)
        self._accept(order)
        executions = self.market.take(req.symbol, req.side, req.size, limit)
        for price, size in executions:
            self._execute(acct, inst, order, size, price, Liquidity.TAKER)
        if order.unfilled > 0:
            if self._keeps_resting(order):
                order.reserved = self._resting_cost(inst, order) if order.opens else ZERO
                acct.reserved += order.reserved
                self._rest(order)
            else:
                order.finish(OrderState.CANCELED, now)
        return order.to_order()

    def get_order(self, account: str, *, venue_id: str | None = None,
                  client_id: str | None = None) -> Order:
        return self._find(account, venue_id, client_id).to_order()

    def cancel_order(self, account: str, *, venue_id: str | None = None,
                     client_id: str | None = None) -> Order:
        order = self._find(account, venue_id, client_id)
        if order.state.is_final:
            raise okx_error("51400", venue=VENUE)
        self._end(order, OrderState.CANCELED)
        self._changed()
        return order.to_order()

    def open_orders(self, account: str, symbol: str | None = None) -> list[Order]:
        self.expire_due()
        return [o.to_order() for s, orders in self.resting.items() if symbol in (None, s)
                for o in orders if o.account == account]

    def account_fills(self, account: str, symbol: str | None = None, *,
                      client_id: str | None = None, venue_id: str | None = None) -> list[Fill]:
        self.account(account)
        return [f for f in self.fills[account]
                if symbol in (None, f.symbol) and client_id in (None, f.client_id)
                and venue_id in (None, f.order_venue_id)]

    # -- leverage and margin ----------------------------------------------------------

    def set_leverage(self, account: str, symbol: str, side: Side, leverage: Decimal) -> Decimal:
        acct, inst = self.account(account), self.instrument(symbol)
        if not leverage.is_finite() or leverage < 1 or leverage > inst.max_leverage:
            raise okx_error("59102", venue=VENUE)
        pos = acct.position(symbol, side)
        if pos is not None:
            # OKX recomputes an isolated position's margin at the new leverage: raising it
            # frees margin, lowering it needs more from the free balance.
            needed = margin_for(pos.size, pos.entry_price, leverage, inst)
            if needed - pos.margin > acct.free:
                raise okx_error("59108", venue=VENUE)
            acct.cash -= needed - pos.margin
            pos.margin = needed
            pos.leverage = leverage
        acct.leverage[(symbol, side)] = leverage
        self.dirty = True
        self._changed()
        return leverage

    def change_margin(self, account: str, symbol: str, side: Side,
                      amount: Decimal) -> MarginChange:
        acct, inst = self.account(account), self.instrument(symbol)
        pos = acct.position(symbol, side)
        if pos is None:
            raise okx_error("59300", venue=VENUE)
        if not amount.is_finite() or amount == 0:
            raise okx_error("51000", "Parameter amt error", venue=VENUE)
        if amount > 0 and amount > acct.free:
            raise okx_error("51008", venue=VENUE)
        if amount < 0:
            # Never below the initial margin the position needs at the current mark.
            floor = margin_for(pos.size, self.market.mark(symbol), pos.leverage, inst)
            if pos.margin + amount < floor:
                raise okx_error("59301", venue=VENUE)
        pos.margin += amount
        acct.cash -= amount
        self.dirty = True
        self._changed()
        real_leverage = notional(pos.size, self.market.mark(symbol), inst) / pos.margin
        return MarginChange(symbol=symbol, side=side, amount=amount, margin_after=pos.margin,
                            leverage_after=real_leverage)

    # -- time and prices --------------------------------------------------------------

    def set_mark(self, symbol: str, price: Decimal) -> None:
        self.instrument(symbol)
        self.market.set_mark(symbol, price)
        self.dirty = True
        self._match(symbol)
        self._changed()

    def tick(self) -> None:
        """One step of time: marks walk, resting orders that the mark crossed fill, GTT
        orders whose time has come expire."""
        for symbol in self.market.walk():
            self._match(symbol)
        self._expire()
        self.dirty = True
        self._changed()

    def expire_due(self) -> None:
        # Reads call this too: tell listeners only when an order did expire, or a listener
        # that reads orders would wake itself forever.
        if self._expire():
            self._changed()

    def _expire(self) -> bool:
        now = self.clock()
        expired = False
        for orders in self.resting.values():
            for order in [o for o in orders if o.expire_at is not None and o.expire_at <= now]:
                self._end(order, OrderState.EXPIRED)
                expired = True
        return expired

    # -- internals --------------------------------------------------------------------

    def _validate(self, acct: PaperAccount, inst: Instrument, req: OrderRequest) -> None:
        if not req.client_id:
            raise okx_error("51000", "Parameter clOrdId error", venue=VENUE)
        if not req.size.is_finite() or req.size <= 0 or not is_lot_multiple(req.size, inst):
            raise okx_error("51121", venue=VENUE)
        if req.size < inst.min_size:
            raise okx_error("51020", venue=VENUE)
        too_big = inst.max_market_size is not None and req.size > inst.max_market_size
        if req.type is OrderType.MARKET and too_big:
            raise okx_error("51202", venue=VENUE)
        if req.price is not None and (not req.price.is_finite() or req.price <= 0
                                      or not is_tick_multiple(req.price, inst)):
            raise okx_error("51000", "Parameter px error", venue=VENUE)
        if req.type is OrderType.LIMIT and req.price is None:
            raise okx_error("51000", "Parameter px error", venue=VENUE)
        if req.time_in_force is TimeInForce.GTT and req.expire_at is None:
            raise okx_error("51000", "Parameter expTime error", venue=VENUE)
        if req.opens:
            if req.reduce_only:
                raise okx_error("51170", venue=VENUE)
            return
        pos = acct.position(req.symbol, req.position_side)
        if pos is None:
            raise okx_error("51169", venue=VENUE)
        pending = sum((o.unfilled for o in self.resting[req.symbol]
                       if o.account == acct.name and o.position_side is req.position_side
                       and not o.opens), ZERO)
        if req.size > pos.size - pending:
            raise okx_error("51112", venue=VENUE)

    def _keeps_resting(self, order: PaperOrder) -> bool:
        return order.type is OrderType.LIMIT and order.time_in_force is not TimeInForce.IOC

    def _resting_cost(self, inst: Instrument, order: PaperOrder,
                      size: Decimal | None = None) -> Decimal:
        if not order.opens:
            return ZERO
        size = order.unfilled if size is None else size
        price = order.price if order.price is not None else self.market.mark(order.symbol)
        lev = self.accounts[order.account].leverage_for(order.symbol, order.position_side)
        return margin_for(size, price, lev, inst) + notional(size, price, inst) * self.fees.taker

    def _reserve_or_reject(self, acct: PaperAccount, inst: Instrument, order: PaperOrder,
                           cost: Decimal) -> None:
        if cost > acct.free:
            raise okx_error("51008", venue=VENUE)
        order.reserved = cost
        acct.reserved += cost

    def _accept(self, order: PaperOrder) -> None:
        self.orders[order.venue_id] = order
        self.client_ids[(order.account, order.client_id)] = order.venue_id
        self.next_id += 1
        self.dirty = True

    def _rest(self, order: PaperOrder) -> None:
        self.resting[order.symbol].append(order)

    def _find(self, account: str, venue_id: str | None, client_id: str | None) -> PaperOrder:
        self.account(account)
        self.expire_due()  # a venue expires orders on time, whether or not the market moved
        if venue_id is None and client_id is not None:
            venue_id = self.client_ids.get((account, client_id))
        order = self.orders.get(venue_id) if venue_id is not None else None
        if order is None or order.account != account:
            raise okx_error("51603", venue=VENUE)
        return order

    def _execute(self, acct: PaperAccount, inst: Instrument, order: PaperOrder, size: Decimal,
                 price: Decimal, liquidity: Liquidity) -> None:
        rate = self.fees.maker if liquidity is Liquidity.MAKER else self.fees.taker
        fee = notional(size, price, inst) * rate
        if order.opens:
            acct.apply_open(inst, order.position_side, size, price, fee)
            realized = ZERO
        else:
            realized = acct.apply_close(inst, order.position_side, size, price, fee)
        now = self.clock()
        order.record_fill(size, price, fee, realized, now)
        self.fills[acct.name].append(Fill(
            trade_id=f"{order.venue_id}-{len(self.fills[acct.name]) + 1}",
            order_venue_id=order.venue_id, client_id=order.client_id, symbol=order.symbol,
            side=order.side, position_side=order.position_side, size=size, price=price,
            fee=fee, realized_pnl=realized, liquidity=liquidity, time=now))
        self.dirty = True
        if not order.opens and acct.position(order.symbol, order.position_side) is None:
            # Like OKX: a closed position takes its pending close orders with it.
            for other in list(self.resting[order.symbol]):
                if (other.account == acct.name and other is not order and not other.opens
                        and other.position_side is order.position_side):
                    self._end(other, OrderState.CANCELED)

    def _match(self, symbol: str) -> None:
        mark = self.market.mark(symbol)
        inst = self.instruments[symbol]
        for order in list(self.resting[symbol]):
            if order.stuck or order.state.is_final or order.price is None:
                continue
            crossed = mark <= order.price if order.side is OrderSide.BUY else mark >= order.price
            if not crossed:
                continue
            acct = self.accounts[order.account]
            size = order.unfilled
            if not order.opens:
                pos = acct.position(symbol, order.position_side)
                size = min(size, pos.size) if pos else ZERO
            if order.opens:
                acct.reserved -= order.reserved
                order.reserved = ZERO
            if size > 0:
                self._execute(acct, inst, order, size, order.price, Liquidity.MAKER)
            if order.state is OrderState.FILLED:
                self.resting[symbol].remove(order)
            elif not order.state.is_final:
                self._end(order, OrderState.CANCELED)

    def _end(self, order: PaperOrder, state: OrderState) -> None:
        acct = self.accounts[order.account]
        acct.reserved -= order.reserved
        order.reserved = ZERO
        order.finish(state, self.clock())
        if order in self.resting[order.symbol]:
            self.resting[order.symbol].remove(order)
        self.dirty = True
