"""The channels of the fake Lighter websocket (lighter_stream.py). Each is one
subscription on one connection that remembers what it pushed last, so that it pushes
only what changed (shapes: see lighter_stream.py):

- market_stats/{market_id} or /all: the mark at once, again when it moves, and every
  `idle_push_seconds` while it does not;
- account_all/{account_index}: a snapshot of the REST position rows by market id, then
  the rows that changed (not by the mark alone), a closed one once with `position` "0"
  and `sign` 0, and the account's new trades by market id. A hedge-mode market with both
  sides open (the paper engine allows it, Lighter does not) shows one of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from bot.domain import Fill
from bot.venues.paper.engine import PaperExchange
from tests.fakes.okx_channels import Channel  # the same push contract as the OKX fake

_MARK_DRIVEN = ("position_value", "unrealized_pnl", "liquidation_price")
Json = dict[str, Any]


class Rows(Protocol):
    """What the REST server renders, reused here (FakeLighterServer)."""

    accounts: dict[int, str]
    markets: Mapping[int, Any]  # LighterMarket by market id

    def _account_row(self, account_index: int, account: str) -> Json: ...
    def _trade_row(self, fill: Fill, account_index: int) -> Json: ...


class Feed(Protocol):
    """What a channel reads: the engine, the REST renderer, the idle push interval."""

    exchange: PaperExchange
    rows: Rows
    idle_push_seconds: float


class WsError(Exception):
    """A subscription the fake refuses; its text goes back in Lighter's error envelope."""


class MarketStats(Channel):
    def __init__(self, streams: Feed, key: str) -> None:
        markets = {i: m for i, m in streams.rows.markets.items()
                   if m.symbol in streams.exchange.instruments}
        if key == "all":
            self.markets = list(markets.values())
        elif key.isdigit() and int(key) in markets:
            self.markets = [markets[int(key)]]
        else:
            raise WsError(f"Invalid Channel: market_stats/{key}")
        self.streams, self.key, self.pushed_at = streams, key, 0.0
        self.pushed: dict[int, str] = {}

    def first(self, now: float) -> list[Json]:
        return [self._push("subscribed", self.markets, now)]

    def changes(self, now: float) -> list[Json]:
        mark = self.streams.exchange.market.mark
        moved = [m for m in self.markets
                 if m.price_text(mark(m.symbol)) != self.pushed.get(m.market_id)]
        if not moved and now >= self.due():
            moved = self.markets
        return [self._push("update", moved, now)] if moved else []

    def due(self) -> float:
        return self.pushed_at + self.streams.idle_push_seconds

    def _push(self, kind: str, markets: list[Any], now: float) -> Json:
        ex = self.streams.exchange
        rows = {}
        for m in markets:
            price = m.price_text(ex.market.mark(m.symbol))
            self.pushed[m.market_id] = price
            rows[str(m.market_id)] = {
                "market_id": m.market_id, "symbol": m.symbol, "index_price": price,
                "mark_price": price, "open_interest": "0", "last_trade_price": price,
                "current_funding_rate": "0.0000", "funding_rate": "0.0000",
                "funding_timestamp": _ms(ex), "daily_base_token_volume": 0.0,
                "daily_quote_token_volume": 0.0, "daily_price_low": float(price),
                "daily_price_high": float(price), "daily_price_change": 0.0}
        self.pushed_at = now
        stats = rows if self.key == "all" else next(iter(rows.values()))
        return {"channel": f"market_stats:{self.key}", "market_stats": stats,
                "timestamp": _ms(ex), "type": f"{kind}/market_stats"}


class AccountAll(Channel):
    def __init__(self, streams: Feed, key: str, auth: Any) -> None:
        account = streams.rows.accounts.get(int(key)) if key.isdigit() else None
        if account is None:
            raise WsError(f"Invalid Channel: account_all/{key}")
        if auth not in (None, "") and str(auth).split(":")[1:2] != [key]:
            raise WsError("Invalid auth: the token is not this account's")
        self.streams, self.index, self.account = streams, int(key), account

    def first(self, now: float) -> list[Json]:
        self.pushed = self._positions()
        self.fills = len(self.streams.exchange.account_fills(self.account))
        return [self._message("subscribed", self.pushed, {})]

    def changes(self, now: float) -> list[Json]:
        rows = self._positions()
        changed = {k: r for k, r in rows.items() if _moved(r, self.pushed.get(k))}
        changed |= {k: _closed(r) for k, r in self.pushed.items() if k not in rows}
        fills = self.streams.exchange.account_fills(self.account)
        trades: dict[str, list[Json]] = {}
        for fill in fills[self.fills:]:
            row = self.streams.rows._trade_row(fill, self.index)
            trades.setdefault(str(row["market_id"]), []).append(row)
        self.pushed, self.fills = rows, len(fills)
        return [self._message("update", changed, trades)] if changed or trades else []

    def _positions(self) -> dict[str, Json]:
        row = self.streams.rows._account_row(self.index, self.account)
        return {str(p["market_id"]): p for p in row["positions"]}

    def _message(self, kind: str, positions: Json, trades: Json) -> Json:
        return {"account": self.index, "channel": f"account_all:{self.index}",
                "daily_trades_count": 0, "daily_volume": 0, "weekly_trades_count": 0,
                "weekly_volume": 0, "monthly_trades_count": 0, "monthly_volume": 0,
                "total_trades_count": 0, "total_volume": 0, "funding_histories": {},
                "positions": positions, "shares": [], "trades": trades,
                "type": f"{kind}/account_all"}


def _moved(row: Json, before: Json | None) -> bool:
    return before is None or any(v != before.get(k) for k, v in row.items()
                                 if k not in _MARK_DRIVEN)


def _closed(row: Json) -> Json:
    zero = {k: "0.000000" for k in ("position_value", "unrealized_pnl", "allocated_margin")}
    return {**row, **zero, "position": "0", "sign": 0, "avg_entry_price": "0",
            "liquidation_price": "0", "open_order_count": 0,
            "position_tied_order_count": 0}


def _ms(exchange: PaperExchange) -> int:
    return int(exchange.clock().timestamp() * 1000)
