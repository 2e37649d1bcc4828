"""The paper engine's state in OKX v5's shapes: instruments, tickers, books, positions,
balances, orders and fills, as the docs list their fields (numbers as strings, `""`
for missing, fees negative when paid, `uplRatio` a fraction)."""

from __future__ import annotations

import zlib
from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.domain import (
    ZERO,
    Fill,
    Instrument,
    Liquidity,
    Order,
    OrderBook,
    OrderState,
    OrderType,
    Position,
    TimeInForce,
)
from bot.sizing import HUNDRED, notional
from bot.venues.paper.engine import PaperExchange
from tests.fakes.okx_wire import ms, num

OKX_STATES = {OrderState.LIVE: "live", OrderState.PARTIALLY_FILLED: "partially_filled",
              OrderState.FILLED: "filled", OrderState.CANCELED: "canceled",
              OrderState.EXPIRED: "canceled", OrderState.REJECTED: "order_failed"}
MAX_LIMIT_SIZE = Decimal(100_000_000)


def numeric_id(*parts: str) -> str:
    """OKX ids are digit strings; a stable one derived from what identifies the thing."""
    return str(zlib.crc32("|".join(parts).encode()) + 10**9)


def instrument_row(inst: Instrument) -> dict[str, Any]:
    family = f"{inst.base}-{inst.quote}"
    return {
        "instType": "SWAP", "instId": inst.symbol, "instFamily": family, "uly": family,
        "baseCcy": "", "quoteCcy": "", "settleCcy": inst.quote, "ctVal": num(inst.contract_value),
        "ctMult": "1", "ctValCcy": inst.base, "ctType": "linear",
        "lever": num(inst.max_leverage), "tickSz": num(inst.tick_size),
        "lotSz": num(inst.lot_size), "minSz": num(inst.min_size),
        "maxLmtSz": num(MAX_LIMIT_SIZE), "maxMktSz": num(inst.max_market_size or MAX_LIMIT_SIZE),
        "state": "live", "listTime": "1600000000000", "expTime": "", "alias": "",
        "category": "1", "optType": "", "stk": "", "ruleType": "normal",
    }


def book_row(b: OrderBook) -> dict[str, Any]:
    def levels(side: Any) -> list[list[str]]:
        return [[num(level.price), num(level.size), "0", "1"] for level in side]

    return {"asks": levels(b.asks), "bids": levels(b.bids), "ts": ms(b.time), "seqId": "1"}


def ticker_row(ex: PaperExchange, symbol: str) -> dict[str, Any]:
    mark = ex.market.mark(symbol)
    top = ex.order_book(symbol, 1)
    ask, bid = (top.asks[0] if top.asks else None), (top.bids[0] if top.bids else None)
    return {
        "instType": "SWAP", "instId": symbol, "last": num(mark), "lastSz": "1",
        "askPx": num(ask.price if ask else None), "askSz": num(ask.size if ask else None),
        "bidPx": num(bid.price if bid else None), "bidSz": num(bid.size if bid else None),
        "open24h": num(mark), "high24h": num(mark), "low24h": num(mark), "vol24h": "0",
        "volCcy24h": "0", "sodUtc0": num(mark), "sodUtc8": num(mark), "ts": ms(ex.clock()),
    }


def mark_price_row(ex: PaperExchange, symbol: str) -> dict[str, Any]:
    return {"instType": "SWAP", "instId": symbol, "markPx": num(ex.market.mark(symbol)),
            "ts": ms(ex.clock())}


def position_row(p: Position, pending_close: Decimal, now: datetime) -> dict[str, Any]:
    value = notional(p.size, p.mark_price, p.instrument)
    return {
        "instType": "SWAP", "instId": p.symbol, "mgnMode": "isolated",
        "posId": numeric_id(p.account, p.symbol, p.side.value), "posSide": p.side.value,
        "pos": num(p.size), "availPos": num(p.size - pending_close), "avgPx": num(p.entry_price),
        "markPx": num(p.mark_price), "last": num(p.mark_price), "idxPx": num(p.mark_price),
        "upl": num(p.unrealized_pnl), "uplRatio": num(p.profit_rate / HUNDRED),
        "uplLastPx": num(p.unrealized_pnl), "lever": num(p.leverage), "liqPx": "",
        "margin": num(p.margin), "imr": "", "mmr": "", "mgnRatio": "",
        "notionalUsd": num(value), "ccy": "USDT", "posCcy": "", "adl": "1",
        "realizedPnl": "0", "pnl": "0", "fee": "0", "fundingFee": "0", "bePx": "",
        "cTime": ms(now), "uTime": ms(now), "tradeId": "", "closeOrderAlgo": [],
    }


def balance_row(ex: PaperExchange, account: str) -> dict[str, Any]:
    acct, bal, now = ex.accounts[account], ex.balance(account), ms(ex.clock())
    held = ex.positions(account)
    upl = sum((p.unrealized_pnl for p in held), ZERO)
    isolated = sum((p.margin + p.unrealized_pnl for p in held), ZERO)
    detail = {
        "ccy": "USDT", "eq": num(bal.equity), "cashBal": num(acct.cash),
        "availBal": num(bal.free), "availEq": num(bal.free),
        "frozenBal": num(bal.equity - bal.free), "ordFrozen": num(acct.reserved),
        "isoEq": num(isolated), "upl": num(upl), "isoUpl": num(upl), "eqUsd": num(bal.equity),
        "disEq": num(bal.equity), "uTime": now,
    }
    return {"totalEq": num(bal.equity), "adjEq": "", "imr": "", "mmr": "",
            "notionalUsd": num(sum((notional(p.size, p.mark_price, p.instrument)
                                    for p in held), ZERO)),
            "upl": num(upl), "uTime": now, "details": [detail]}


def ord_type(o: Order) -> str:
    if o.type is OrderType.MARKET:
        return "market"
    return "ioc" if o.time_in_force is TimeInForce.IOC else "limit"


def order_row(o: Order, fills: list[Fill], *, tag: str, client_id: str,
          leverage: Decimal) -> dict[str, Any]:
    last = fills[-1] if fills else None
    return {
        "instType": "SWAP", "instId": o.symbol, "ordId": o.venue_id, "clOrdId": client_id,
        "tag": tag, "px": num(o.price) if o.type is OrderType.LIMIT else "",
        "sz": num(o.size), "ordType": ord_type(o), "side": o.side.value,
        "posSide": o.position_side.value, "tdMode": "isolated",
        "reduceOnly": "true" if o.reduce_only else "false", "state": OKX_STATES[o.state],
        "accFillSz": num(o.filled_size), "fillSz": num(last.size) if last else "",
        "fillPx": num(last.price) if last else "", "fillTime": ms(last.time) if last else "",
        "tradeId": last.trade_id if last else "", "avgPx": num(o.average_price),
        "fee": num(-o.fee), "feeCcy": "USDT", "pnl": num(o.realized_pnl),
        "lever": num(leverage), "cancelSource": "", "cancelSourceReason": "",
        "category": "normal", "tgtCcy": "", "ccy": "", "cTime": ms(o.created_at),
        "uTime": ms(o.updated_at),
    }


def fill_row(f: Fill, bill_id: int, fee_rate: Decimal) -> dict[str, Any]:
    return {
        "instType": "SWAP", "instId": f.symbol, "tradeId": f.trade_id, "ordId": f.order_venue_id,
        "clOrdId": f.client_id, "billId": str(bill_id), "tag": "", "fillPx": num(f.price),
        "fillSz": num(f.size), "side": f.side.value, "posSide": f.position_side.value,
        "execType": "M" if f.liquidity is Liquidity.MAKER else "T", "fee": num(-f.fee),
        "feeCcy": "USDT", "feeRate": num(-fee_rate), "fillPnl": num(f.realized_pnl),
        "fillMarkPx": "", "fillIdxPx": "", "fillTime": ms(f.time), "ts": ms(f.time),
        "subType": "1" if f.realized_pnl == 0 else "2",
    }
