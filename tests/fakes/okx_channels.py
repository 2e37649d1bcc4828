"""The channels of the fake OKX websocket (okx_stream.py). Each is one subscription on
one connection that remembers what it pushed last, so that it pushes only what changed:

- mark-price (public, by instId): the mark at once, again on every change, and every
  `mark_idle_push_seconds` while it does not change (OKX: 10 s);
- positions (private, by instType and optionally instId): a snapshot of the account's
  positions (`eventType` "snapshot"), then the positions whose row changed ("event_update");
  a closed one once, with `pos` "0". Rows are the REST /api/v5/account/positions rows;
- orders (private, likewise): no snapshot, as on OKX. A new order is pushed "live", then
  once per fill (the REST order row plus the orders channel's fill fields, as it stood
  after that fill), then once more when it ends without a fill (canceled, expired).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.domain import ZERO, Fill, Instrument, Liquidity, OrderState
from bot.sizing import notional
from bot.venues.paper.engine import PaperExchange
from bot.venues.paper.orders import PaperOrder
from tests.fakes import okx_render as render
from tests.fakes.okx_wire import OrderNotes, ms, num

Json = dict[str, Any]
_RESTAMPED = ("cTime", "uTime")  # the REST renderer stamps these "now": not a change
_CLOSED = {"pos": "0", "availPos": "0", "upl": "0", "uplRatio": "0", "uplLastPx": "0",
           "margin": "0", "notionalUsd": "0"}
# The orders channel's fields beyond the REST order row (fills fill them in).
_ORDERS_CHANNEL_ONLY = {"fillFee": "", "fillFeeCcy": "USDT", "fillPnl": "", "execType": "",
                        "fillNotionalUsd": "", "fillMarkPx": "", "fillIdxPx": "",
                        "amendResult": "", "reqId": "", "code": "0", "msg": "", "source": "",
                        "amendSource": ""}
# instType -> whether the paper venue has anything of it (it lists perpetual swaps only)
_INST_TYPES = {"SWAP": True, "ANY": True, "SPOT": False, "MARGIN": False, "FUTURES": False,
               "OPTION": False}


class WsError(Exception):
    """An OKX websocket error: answered `{"event": "error", "code", "msg"}`."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(f"{code} {msg}")
        self.code, self.msg = code, msg


def wrong_url(arg: Json) -> WsError:
    """OKX's answer to a channel or instrument that this path does not serve."""
    named = ",".join(f"{k}:{v}" for k, v in arg.items())
    return WsError("60018", f"Wrong URL or {named} doesn't exist. Please use the correct "
                            "URL, channel and parameters referring to API document.")


@dataclass(frozen=True, slots=True)
class Feed:
    """What a channel reads: the engine, the server's order notes, the logged-in account
    (None on the public path) and the mark's idle push interval (settable on the server)."""

    exchange: PaperExchange
    notes: OrderNotes
    account: str | None
    idle_seconds: Callable[[], float]

    @property
    def user(self) -> str:
        assert self.account is not None, "a private channel without a login"
        return self.account


class Channel(ABC):
    @abstractmethod
    def first(self, now: float) -> list[Json]:
        """The pushes right after the subscribe answer; `now` is the event loop's time."""

    @abstractmethod
    def changes(self, now: float) -> list[Json]:
        """The pushes for what changed since the last ones (none when nothing did)."""

    def due(self) -> float | None:
        """The loop time by which it wants to push even if nothing changes."""
        return None


class MarkPrice(Channel):
    def __init__(self, feed: Feed, arg: Json) -> None:
        if arg.get("instId") not in feed.exchange.instruments:
            raise wrong_url(arg)
        self.feed, self.arg, self.symbol = feed, arg, arg["instId"]
        self.pushed_px, self.pushed_at = "", 0.0

    def first(self, now: float) -> list[Json]:
        return [self._push(now)]

    def changes(self, now: float) -> list[Json]:
        moved = num(self.feed.exchange.market.mark(self.symbol)) != self.pushed_px
        return [self._push(now)] if moved or now >= self.due() else []

    def due(self) -> float:
        return self.pushed_at + self.feed.idle_seconds()

    def _push(self, now: float) -> Json:
        row = render.mark_price_row(self.feed.exchange, self.symbol)
        self.pushed_px, self.pushed_at = row["markPx"], now
        return {"arg": self.arg, "data": [row]}


class _AccountChannel(Channel, ABC):
    """A private channel: by instType (and instId), pushed with the account's uid."""

    def __init__(self, feed: Feed, arg: Json) -> None:
        swaps, inst_id = _INST_TYPES.get(arg.get("instType", "")), arg.get("instId")
        if swaps is None or (inst_id is not None and inst_id not in feed.exchange.instruments):
            raise wrong_url(arg)
        self.feed, self.account, self.swaps, self.inst_id = feed, feed.user, swaps, inst_id
        self.arg = {**arg, "uid": render.numeric_id(self.account)}  # as the config route

    def wants(self, symbol: str) -> bool:
        return self.swaps and self.inst_id in (None, symbol)


# What only the mark moves. With `extraParams: {"updateInterval": "0"}` OKX pushes a
# position on its own events (a fill, a margin change), not on every mark: the price then
# comes over the mark-price channel.
_MARK_DRIVEN = ("markPx", "upl", "uplRatio", "uplLastPx", "uplRatioLastPx", "notionalUsd",
                "last", "idxPx", "mgnRatio", "liqPx", "usdPx", "bePx")


class Positions(_AccountChannel):
    def __init__(self, feed: Feed, arg: Json) -> None:
        super().__init__(feed, arg)
        try:
            interval = json.loads(arg.get("extraParams") or "{}").get("updateInterval")
        except (ValueError, AttributeError):
            raise WsError("60013", "Invalid args") from None
        self.events_only = interval == "0"

    def first(self, now: float) -> list[Json]:
        self.pushed = self._rows()
        return [{"arg": self.arg, "eventType": "snapshot", "curPage": 1, "lastPage": True,
                 "data": list(self.pushed.values())}]

    def changes(self, now: float) -> list[Json]:
        rows = self._rows()
        ignored = _RESTAMPED + (_MARK_DRIVEN if self.events_only else ())
        data = [row for k, row in rows.items() if _moved(row, self.pushed.get(k), ignored)]
        closed_at = ms(self.feed.exchange.clock())
        data += [{**row, **_CLOSED, "uTime": closed_at}
                 for k, row in self.pushed.items() if k not in rows]
        self.pushed = rows
        return [{"arg": self.arg, "eventType": "event_update", "data": data}] if data else []

    def _rows(self) -> dict[tuple[str, str], Json]:
        ex = self.feed.exchange
        held = [p for p in ex.positions(self.account) if self.wants(p.symbol)]
        if not held:
            return {}
        resting, now, rows = ex.open_orders(self.account), ex.clock(), {}
        for p in held:
            # `availPos` leaves out what pending close orders hold, as the REST route does
            pending = sum((o.unfilled_size for o in resting if o.symbol == p.symbol
                           and o.position_side is p.side
                           and o.side is not p.side.open_order_side), ZERO)
            rows[(p.symbol, p.side.value)] = render.position_row(p, pending, now)
        return rows


@dataclass(slots=True)
class _Pushed:
    """How an unfinished order stood when the orders channel last pushed it."""

    state: OrderState
    filled: Decimal
    fills: int
    okx_state: str


class Orders(_AccountChannel):
    def first(self, now: float) -> list[Json]:
        ex = self.feed.exchange
        # The engine numbers orders 1, 2, ...: those from `next_id` on are new to us.
        self.next_id = ex.next_id
        self.open: dict[str, _Pushed] = {}
        for orders in ex.resting.values():
            for o in orders:
                if o.account == self.account and self.wants(o.symbol):
                    fills = len(ex.account_fills(self.account, venue_id=o.venue_id))
                    self.open[o.venue_id] = _Pushed(o.state, o.filled_size, fills,
                                                    render.OKX_STATES[o.state])
        return []

    def changes(self, now: float) -> list[Json]:
        # Only unfinished orders can change, and new ones appear above `next_id`: a diff
        # costs the open and new orders, not the account's whole history.
        ex, rows = self.feed.exchange, []
        for venue_id, pushed in list(self.open.items()):
            order = ex.orders[venue_id]
            if (order.state, order.filled_size) != (pushed.state, pushed.filled):
                rows += self._rows(order, pushed)
        for n in range(self.next_id, ex.next_id):
            order = ex.orders.get(str(n))
            if order is not None and order.account == self.account and self.wants(order.symbol):
                rows += self._rows(order, None)
        self.next_id = ex.next_id
        return [{"arg": self.arg, "data": [row]} for row in rows]

    def _rows(self, order: PaperOrder, pushed: _Pushed | None) -> list[Json]:
        ex, notes, account = self.feed.exchange, self.feed.notes, self.account
        fills = ex.account_fills(account, venue_id=order.venue_id)
        base = {**render.order_row(
            order.to_order(), fills, tag=notes.tags.get((account, order.venue_id), ""),
            client_id=notes.client_id(account, order.client_id),
            leverage=ex.accounts[account].leverage_for(order.symbol, order.position_side),
        ), **_ORDERS_CHANNEL_ONLY}
        inst = ex.instruments[order.symbol]
        rows = [] if pushed is not None else [_after(base, order, [], inst)]
        done = 0 if pushed is None else pushed.fills
        rows += [_after(base, order, fills[: n + 1], inst) for n in range(done, len(fills))]
        last_state = rows[-1]["state"] if rows else (pushed.okx_state if pushed else "")
        if base["state"] != last_state:  # it ended without a fill: canceled, expired
            rows.append({**_after(base, order, fills, inst), "state": base["state"],
                         "uTime": base["uTime"]})
        if order.state.is_final:
            self.open.pop(order.venue_id, None)
        else:
            self.open[order.venue_id] = _Pushed(order.state, order.filled_size, len(fills),
                                                base["state"])
        return rows


def _moved(row: Json, before: Json | None, ignored: tuple[str, ...] = _RESTAMPED) -> bool:
    return before is None or any(v != before.get(k) for k, v in row.items()
                                 if k not in ignored)


def _after(base: Json, order: PaperOrder, done: list[Fill], inst: Instrument) -> Json:
    """The order's row as it stood after the fills `done` (none: just accepted, live)."""
    if not done:
        return {**base, "state": "live", "accFillSz": "0", "avgPx": "", "fee": "0",
                "pnl": "0", "fillSz": "", "fillPx": "", "tradeId": "", "fillTime": "",
                "uTime": base["cTime"]}
    last = done[-1]
    size = sum((f.size for f in done), ZERO)
    return {
        **base, "state": "filled" if size == order.size else "partially_filled",
        "accFillSz": num(size), "avgPx": num(sum((f.size * f.price for f in done), ZERO) / size),
        "fee": num(-sum((f.fee for f in done), ZERO)),
        "pnl": num(sum((f.realized_pnl for f in done), ZERO)),
        "fillSz": num(last.size), "fillPx": num(last.price), "tradeId": last.trade_id,
        "fillTime": ms(last.time), "uTime": ms(last.time), "fillFee": num(-last.fee),
        "fillPnl": num(last.realized_pnl),
        "execType": "M" if last.liquidity is Liquidity.MAKER else "T",
        "fillNotionalUsd": num(notional(last.size, last.price, inst)),
    }


PUBLIC_CHANNELS: dict[str, Callable[[Feed, Json], Channel]] = {"mark-price": MarkPrice}
PRIVATE_CHANNELS: dict[str, Callable[[Feed, Json], Channel]] = {"positions": Positions,
                                                                 "orders": Orders}
