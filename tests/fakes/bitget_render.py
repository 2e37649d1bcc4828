"""The paper engine's state in Bitget v2 mix shapes: contracts, tickers, depth, accounts,
positions, orders and fills, sizes in base coin, numbers as strings, fees negative when
paid (as Bitget reports them).

In hedge mode Bitget's `side` names the position, not the trade: closing a long is
`side=buy, tradeSide=close` (its place-order docs), on orders and fills alike.
"""

from __future__ import annotations

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
    Side,
    TimeInForce,
)
from bot.venues.paper.engine import FeeRates, PaperExchange
from tests.fakes.bitget_wire import (
    HEDGE,
    coin,
    coin_step,
    market_id,
    ms,
    num,
    order_id,
    places,
    trade_id,
)

STATES = {OrderState.LIVE: "live", OrderState.PARTIALLY_FILLED: "partially_filled",
          OrderState.FILLED: "filled", OrderState.CANCELED: "canceled",
          OrderState.EXPIRED: "canceled", OrderState.REJECTED: "canceled"}
MAX_ORDER_QTY = Decimal(100_000_000)  # in contracts, like the OKX fake's maxLmtSz
KEEP_MARGIN_RATE = Decimal("0.004")


def contract_row(inst: Instrument, fees: FeeRates, min_trade_usdt: Decimal) -> dict[str, Any]:
    price_place = places(inst.tick_size)
    return {
        "symbol": market_id(inst), "baseCoin": inst.base, "quoteCoin": inst.quote,
        "buyLimitPriceRatio": "0.05", "sellLimitPriceRatio": "0.05",
        "feeRateUpRatio": "0.005", "makerFeeRate": num(fees.maker),
        "takerFeeRate": num(fees.taker), "openCostUpRatio": "0.01",
        "supportMarginCoins": [inst.quote], "minTradeNum": num(coin(inst.min_size, inst)),
        "priceEndStep": num(inst.tick_size.scaleb(price_place)),
        "volumePlace": str(places(coin_step(inst))), "pricePlace": str(price_place),
        "sizeMultiplier": num(coin_step(inst)), "symbolType": "perpetual",
        "minTradeUSDT": num(min_trade_usdt), "maxSymbolOrderNum": "200",
        "maxProductOrderNum": "400", "maxPositionNum": "150", "symbolStatus": "normal",
        "offTime": "-1", "limitOpenTime": "-1", "deliveryTime": "", "deliveryStartTime": "",
        "deliveryPeriod": "", "launchTime": "", "fundInterval": "8", "minLever": "1",
        "maxLever": num(inst.max_leverage), "posLimit": "0.05", "maintainTime": "",
        "maxMarketOrderQty": num(coin(inst.max_market_size or MAX_ORDER_QTY, inst)),
        "maxOrderQty": num(coin(MAX_ORDER_QTY, inst)),
    }


def ticker_row(ex: PaperExchange, inst: Instrument) -> dict[str, Any]:
    mark = ex.market.mark(inst.symbol)
    top = ex.order_book(inst.symbol, 1)
    ask, bid = (top.asks[0] if top.asks else None), (top.bids[0] if top.bids else None)
    return {
        "symbol": market_id(inst), "lastPr": num(mark),
        "askPr": num(ask.price if ask else None), "bidPr": num(bid.price if bid else None),
        "askSz": num(coin(ask.size, inst) if ask else None),
        "bidSz": num(coin(bid.size, inst) if bid else None),
        "high24h": num(mark), "low24h": num(mark), "ts": ms(ex.clock()), "change24h": "0",
        "baseVolume": "0", "quoteVolume": "0", "usdtVolume": "0", "openUtc": num(mark),
        "changeUtc24h": "0", "indexPrice": num(mark), "fundingRate": "0.0001",
        "holdingAmount": "0", "deliveryStartTime": None, "deliveryTime": None,
        "deliveryStatus": "", "open24h": num(mark), "markPrice": num(mark),
    }


def symbol_price_row(ex: PaperExchange, inst: Instrument) -> dict[str, Any]:
    mark = ex.market.mark(inst.symbol)
    return {"symbol": market_id(inst), "price": num(mark), "indexPrice": num(mark),
            "markPrice": num(mark), "ts": ms(ex.clock())}


def depth(book: OrderBook, inst: Instrument) -> dict[str, Any]:
    def levels(side: Any) -> list[list[str]]:
        return [[num(level.price), num(coin(level.size, inst))] for level in side]

    return {"asks": levels(book.asks), "bids": levels(book.bids), "ts": ms(book.time),
            "scale": num(inst.tick_size), "precision": "scale0", "isMaxPrecision": "YES"}


def account_row(ex: PaperExchange, account: str, pos_mode: str, symbol: Instrument | None
                ) -> dict[str, Any]:
    """One margin coin's account (accounts list; with `symbol`, the single-account read
    that also carries that symbol's leverage per side)."""
    acct, bal = ex.accounts[account], ex.balance(account)
    upl = sum((p.unrealized_pnl for p in ex.positions(account)), ZERO)
    row: dict[str, Any] = {
        "marginCoin": "USDT", "locked": num(acct.reserved), "available": num(bal.free),
        "crossedMaxAvailable": num(bal.free), "isolatedMaxAvailable": num(bal.free),
        "maxTransferOut": num(bal.free), "accountEquity": num(bal.equity),
        "usdtEquity": num(bal.equity), "btcEquity": "", "crossedRiskRate": "0",
        "unrealizedPL": num(upl), "coupon": "0", "crossedUnrealizedPL": "0",
        "isolatedUnrealizedPL": num(upl), "assetMode": "single",
    }
    if symbol is not None:
        row.update({
            "crossedMarginLeverage": 10, "marginMode": "isolated", "posMode": pos_mode,
            "isolatedLongLever": _lever(acct.leverage_for(symbol.symbol, Side.LONG)),
            "isolatedShortLever": _lever(acct.leverage_for(symbol.symbol, Side.SHORT)),
        })
    return row


def _lever(value: Decimal) -> int | str:
    # Bitget gives these two as JSON numbers.
    return int(value) if value == value.to_integral_value() else num(value)


def position_row(p: Position, *, pending_open: Decimal, pending_close: Decimal,
                 pos_mode: str, now: datetime) -> dict[str, Any]:
    inst, equity = p.instrument, p.margin + p.unrealized_pnl
    maintenance = KEEP_MARGIN_RATE * coin(p.size, inst) * p.mark_price
    return {
        "marginCoin": "USDT", "symbol": market_id(inst), "holdSide": p.side.value,
        "openDelegateSize": num(coin(pending_open, inst)), "marginSize": num(p.margin),
        "available": num(coin(p.size - pending_close, inst)),
        "locked": num(coin(pending_close, inst)), "total": num(coin(p.size, inst)),
        "leverage": num(p.leverage), "achievedProfits": "0",
        "openPriceAvg": num(p.entry_price), "marginMode": "isolated", "posMode": pos_mode,
        "unrealizedPL": num(p.unrealized_pnl),
        "liquidationPrice": "0",  # Bitget: <= 0 when there is no liquidation price yet
        "keepMarginRate": num(KEEP_MARGIN_RATE), "markPrice": num(p.mark_price),
        "marginRatio": num(maintenance / equity) if equity > 0 else "",
        "breakEvenPrice": num(p.entry_price),
        "totalFee": "", "deductedFee": "0", "autoMargin": "off",
        "cTime": ms(now), "uTime": ms(now),
    }


def _force(o: Order) -> str:
    return "ioc" if o.time_in_force is TimeInForce.IOC or o.type is OrderType.MARKET else "gtc"


def wire_side(o: Order | Fill, pos_mode: str) -> str:
    """Bitget's `side`: in hedge mode the position's direction, else the trade's."""
    if pos_mode == HEDGE:
        return "buy" if o.position_side is Side.LONG else "sell"
    return o.side.value


def trade_side(closes: bool, o: Order | Fill, pos_mode: str) -> str:
    if pos_mode == HEDGE:
        return "close" if closes else "open"
    return f"{o.side.value}_single"


def order_row(o: Order, inst: Instrument, *, pos_mode: str, leverage: Decimal,
              open_orders: bool = False) -> dict[str, Any]:
    """An order as order/detail gives it; orders-pending names the state `status`."""
    closes = o.side is not o.position_side.open_order_side
    filled = coin(o.filled_size, inst)
    value = filled * o.average_price if o.average_price is not None else ZERO
    return {
        "symbol": market_id(inst), "size": num(coin(o.size, inst)),
        "orderId": order_id(o.venue_id), "clientOid": o.client_id, "baseVolume": num(filled),
        "fee": num(-o.fee), "price": num(o.price) if o.type is OrderType.LIMIT else "",
        "priceAvg": num(o.average_price), "status" if open_orders else "state": STATES[o.state],
        "side": wire_side(o, pos_mode), "force": _force(o), "totalProfits": num(o.realized_pnl),
        "posSide": o.position_side.value if pos_mode == HEDGE else "net",
        "marginCoin": "USDT", "quoteVolume": num(value), "leverage": num(leverage),
        "marginMode": "isolated", "enterPointSource": "API",
        "tradeSide": trade_side(closes, o, pos_mode), "posMode": pos_mode,
        "orderType": o.type.value, "orderSource": "normal",
        "presetStopSurplusPrice": "", "presetStopLossPrice": "",
        "reduceOnly": "YES" if o.reduce_only or closes else "NO", "cancelReason": "",
        "cTime": ms(o.created_at), "uTime": ms(o.updated_at),
    }


def fill_row(f: Fill, serial: int, inst: Instrument, *, pos_mode: str, opens: bool
             ) -> dict[str, Any]:
    """A fill; `serial` is its place (1, 2, ...) among the account's fills."""
    size = coin(f.size, inst)
    return {
        "tradeId": trade_id(serial), "symbol": market_id(inst),
        "orderId": order_id(f.order_venue_id), "price": num(f.price), "baseVolume": num(size),
        "feeDetail": [{"deduction": "no", "feeCoin": "USDT", "totalDeductionFee": "0",
                       "totalFee": num(-f.fee)}],
        "side": wire_side(f, pos_mode), "quoteVolume": num(size * f.price),
        "profit": num(f.realized_pnl), "enterPointSource": "API",
        "tradeSide": trade_side(not opens, f, pos_mode), "posMode": pos_mode,
        "tradeScope": "maker" if f.liquidity is Liquidity.MAKER else "taker",
        "cTime": ms(f.time),
    }


def placed(o: Order) -> dict[str, Any]:
    return {"orderId": order_id(o.venue_id), "clientOid": o.client_id}
