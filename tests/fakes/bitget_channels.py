"""The channels of the fake Bitget v2 websocket (bitget_stream.py), each one subscription
on one connection that remembers what it pushed last, so that it pushes what changed.
Every push is `{"action": "snapshot", "arg": <the arg as subscribed>, "data": [..],
"ts": ms}`, the shape ccxt.pro's bitget parses (and quotes from Bitget's answers):

- ticker (public; instType "USDT-FUTURES", instId e.g. "BTCUSDT"): the REST ticker row
  with `instId`, at once, on every change of the mark, and every `idle_seconds` while it
  does not change;
- positions (private; instId "default" or one symbol): the account's open positions,
  all of them in every push (a closed one is simply gone; none: `data` []), at once and
  whenever a position's own fields change (size, entry, margin, leverage). A move of the
  mark alone is not pushed here: the price comes over the ticker channel;
- orders (private; instId "default" or one symbol): no snapshot; an order is pushed when
  it is accepted and whenever its state or filled size changes, as it then stands.

Rows are the REST rows of bitget_render renamed as the websocket names them (`instId`,
`frozen`, `marginRate`, `status`, `accBaseVolume`, `priceAvg`, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.domain import ZERO, Instrument
from bot.venues.paper.engine import PaperExchange
from tests.fakes import bitget_render as render
from tests.fakes.bitget_wire import USDT_FUTURES, State, coin, ms, num, order_id
from tests.fakes.okx_channels import Channel

Json = dict[str, Any]
# What only the mark moves, and the render's "now" stamps: not an event of the position.
_MARK_DRIVEN = frozenset({"unrealizedPL", "unrealizedPLR", "markPrice", "marginRate",
                          "liquidationPrice", "cTime", "uTime"})


class WsError(Exception):
    """A Bitget websocket error: answered `{"event": "error", "code": <int>, "msg"}`."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code} {msg}")
        self.code, self.msg = code, msg


def no_such_channel(arg: Any) -> WsError:
    named = ",".join(f"{k}:{v}" for k, v in arg.items()) if isinstance(arg, dict) else arg
    return WsError(30001, f"{named} doesn't exist")


@dataclass(frozen=True, slots=True)
class Feed:
    """What a channel reads: the engine, the server's state (position modes), Bitget's
    symbols, the logged-in account (None on the public path), the ticker's idle push
    interval (settable on the server)."""

    exchange: PaperExchange
    state: State
    markets: dict[str, Instrument]
    account: str | None
    idle_seconds: Callable[[], float]

    @property
    def user(self) -> str:
        assert self.account is not None, "a private channel without a login"
        return self.account

    def now_ms(self) -> int:
        return int(self.exchange.clock().timestamp() * 1000)

    def push(self, arg: Json, data: list[Json]) -> Json:
        return {"action": "snapshot", "arg": arg, "data": data, "ts": self.now_ms()}


def _instrument(feed: Feed, arg: Json, *, default: bool) -> Instrument | None:
    """The arg's symbol (None: "default", where allowed); 30001 for anything else."""
    if arg.get("instType") != USDT_FUTURES:
        raise no_such_channel(arg)
    inst_id = arg.get("instId")
    if default and inst_id == "default":
        return None
    inst = feed.markets.get(str(inst_id))
    if inst is None:
        raise no_such_channel(arg)
    return inst


class Ticker(Channel):
    def __init__(self, feed: Feed, arg: Json) -> None:
        inst = _instrument(feed, arg, default=False)
        assert inst is not None
        self.feed, self.arg, self.inst = feed, arg, inst
        self.pushed_mark, self.pushed_at = "", 0.0

    def first(self, now: float) -> list[Json]:
        return [self._push(now)]

    def changes(self, now: float) -> list[Json]:
        moved = num(self.feed.exchange.market.mark(self.inst.symbol)) != self.pushed_mark
        return [self._push(now)] if moved or now >= self.due() else []

    def due(self) -> float:
        return self.pushed_at + self.feed.idle_seconds()

    def _push(self, now: float) -> Json:
        row = render.ticker_row(self.feed.exchange, self.inst)
        row = {"instId": row["symbol"], **row, "symbolType": "1", "nextFundingTime": "",
               "deliveryPrice": "0"}
        self.pushed_mark, self.pushed_at = row["markPrice"], now
        return self.feed.push(self.arg, [row])


class Positions(Channel):
    def __init__(self, feed: Feed, arg: Json) -> None:
        self.inst = _instrument(feed, arg, default=True)
        self.feed, self.arg, self.account = feed, arg, feed.user
        self.pushed: dict[tuple[str, str], Json] = {}

    def first(self, now: float) -> list[Json]:
        self.pushed = self._rows()
        return [self.feed.push(self.arg, list(self.pushed.values()))]

    def changes(self, now: float) -> list[Json]:
        rows = self._rows()
        if rows.keys() == self.pushed.keys() and not any(
                _moved(row, self.pushed[key]) for key, row in rows.items()):
            return []
        self.pushed = rows
        return [self.feed.push(self.arg, list(rows.values()))]

    def _rows(self) -> dict[tuple[str, str], Json]:
        ex, now, rows = self.feed.exchange, self.feed.exchange.clock(), {}
        pos_mode = self.feed.state.pos_mode(self.account)
        for p in ex.positions(self.account):
            if self.inst is not None and p.symbol != self.inst.symbol:
                continue
            orders = [o for o in ex.open_orders(self.account, p.symbol)
                      if o.position_side is p.side]
            opening = sum((o.unfilled_size for o in orders
                           if o.side is p.side.open_order_side), ZERO)
            closing = sum((o.unfilled_size for o in orders
                           if o.side is not p.side.open_order_side), ZERO)
            rest = render.position_row(p, pending_open=opening, pending_close=closing,
                                       pos_mode=pos_mode, now=now)
            inst_id = rest.pop("symbol")
            rest["frozen"] = rest.pop("locked")
            rest["marginRate"] = rest.pop("marginRatio")
            rate = p.unrealized_pnl / p.margin if p.margin else ZERO
            rows[(p.symbol, p.side.value)] = {
                "posId": f"{inst_id}-{p.side.value}", "instId": inst_id, **rest,
                "unrealizedPLR": num(rate)}
        return rows


@dataclass(slots=True)
class _Pushed:
    state: str
    filled: Decimal


class Orders(Channel):
    def __init__(self, feed: Feed, arg: Json) -> None:
        self.inst = _instrument(feed, arg, default=True)
        self.feed, self.arg, self.account = feed, arg, feed.user
        self.pushed: dict[str, _Pushed] = {}

    def first(self, now: float) -> list[Json]:
        self.pushed = {o.venue_id: _Pushed(o.state.value, o.filled_size)
                       for o in self._orders()}
        return []

    def changes(self, now: float) -> list[Json]:
        rows = []
        for order in self._orders():
            before = self.pushed.get(order.venue_id)
            if before is None or (before.state, before.filled) != (order.state.value,
                                                                    order.filled_size):
                rows.append(self._row(order, before))
                self.pushed[order.venue_id] = _Pushed(order.state.value, order.filled_size)
        return [self.feed.push(self.arg, [row]) for row in rows]

    def _orders(self) -> list[Any]:
        return [o.to_order() for o in self.feed.exchange.orders.values()
                if o.account == self.account
                and (self.inst is None or o.symbol == self.inst.symbol)]

    def _row(self, o: Any, before: _Pushed | None) -> Json:
        ex, inst = self.feed.exchange, self.feed.exchange.instruments[o.symbol]
        pos_mode = self.feed.state.pos_mode(self.account)
        rest = render.order_row(o, inst, pos_mode=pos_mode,
                                leverage=ex.accounts[self.account].leverage_for(
                                    o.symbol, o.position_side))
        fills = ex.account_fills(self.account, venue_id=o.venue_id)
        last = fills[-1] if fills and o.filled_size != (before.filled if before else ZERO) \
            else None
        row = {"instId": rest.pop("symbol"), "orderId": order_id(o.venue_id),
               **{k: v for k, v in rest.items() if k not in ("state", "baseVolume", "fee")},
               "status": rest["state"], "accBaseVolume": rest["baseVolume"],
               "notionalUsd": num(coin(o.size, inst) * (o.price or ex.market.mark(o.symbol))),
               "feeDetail": [{"feeCoin": "USDT", "fee": rest["fee"]}],
               "reduceOnly": "yes" if rest["reduceOnly"] == "YES" else "no"}
        if last is not None:
            row.update({"baseVolume": num(coin(last.size, inst)), "fillPrice": num(last.price),
                        "fillTime": ms(last.time), "fillFee": num(-last.fee),
                        "fillFeeCoin": "USDT", "pnl": num(last.realized_pnl),
                        "fillNotionalUsd": num(coin(last.size, inst) * last.price),
                        "tradeId": last.trade_id, "tradeScope": "T"})
        return row


def _moved(row: Json, before: Json) -> bool:
    return any(v != before.get(k) for k, v in row.items() if k not in _MARK_DRIVEN)


PUBLIC_CHANNELS: dict[str, Callable[[Feed, Json], Channel]] = {"ticker": Ticker}
PRIVATE_CHANNELS: dict[str, Callable[[Feed, Json], Channel]] = {"positions": Positions,
                                                                 "orders": Orders}
