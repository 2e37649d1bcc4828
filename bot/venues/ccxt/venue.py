"""Any ccxt exchange (Bitget first; OKX for the contract tests) through ccxt.async_support:
one account, hedge mode (a position side on every order), isolated margin, our client
ids as `clientOrderId`, sizes in contracts of the market's `contractSize`.

Reads are retried with backoff; writes only after a rate-limit answer. `watch` streams
positions and marks over ccxt's own websockets where the exchange's class has them
(stream.py); positions then come from the stream while it is live. ccxt would
quietly truncate a size to the lot and round a price to the tick; a size or price off
the grid is refused here instead, because an order for a size nobody asked for is worse
than no order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import ccxt.async_support as ccxt
import ccxt.pro as ccxt_pro

from bot.domain import (
    Balance,
    BookLevel,
    Candle,
    Fill,
    Instrument,
    MarginChange,
    Order,
    OrderBook,
    OrderRequest,
    OrderState,
    OrderType,
    Position,
    Side,
    TimeInForce,
)
from bot.sizing import is_lot_multiple, is_tick_multiple, notional
from bot.venues.base import (
    BadPrecision,
    InvalidOrder,
    OrderUnknown,
    PositionNotFound,
    RateLimited,
    UnknownInstrument,
    VenueError,
    VenueUnavailable,
    bar_seconds,
)
from bot.venues.ccxt import parse
from bot.venues.ccxt.stream import PING_AFTER_SECONDS, CcxtStream, can_stream, point_ws
from bot.venues.instrument_cache import InstrumentCache
from bot.venues.retry import READ_RETRY_ON, WRITE_RETRY_ON, RetryPolicy, Sleep, retrying

log = logging.getLogger(__name__)
# ccxt logs every request with its headers (API key, passphrase) at DEBUG: give it a
# logger of its own that never goes below INFO, whatever the root level is.
_SDK_LOG = logging.getLogger("bot.venues.ccxt_sdk")
_SDK_LOG.setLevel(logging.INFO)

T = TypeVar("T")
MARKETS_REFRESH_SECONDS = 30.0


def _sdk_class(exchange_id: str) -> type[ccxt.Exchange]:
    """ccxt.pro's class where there is one (the async class plus its watch methods)."""
    sdk = ccxt_pro if exchange_id in ccxt_pro.exchanges else ccxt
    cls = getattr(sdk, exchange_id, None) if exchange_id in ccxt.exchanges else None
    if not isinstance(cls, type) or not issubclass(cls, ccxt.Exchange):
        raise ValueError(f"ccxt has no exchange {exchange_id!r}")
    return cls


class CcxtVenue:
    def __init__(self, name: str, exchange_id: str, *, api_key: str, api_secret: str,
                 passphrase: str | None = None, demo: bool = False,
                 base_url: str | None = None, ws_url: str | None = None,
                 timeout_seconds: float = 10.0,
                 retry: RetryPolicy | None = None, sleep: Sleep = asyncio.sleep,
                 client_rate_limit: bool = True) -> None:
        self.name = name
        self.exchange_id = exchange_id
        self.venue = f"ccxt:{exchange_id}"
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self.exchange: ccxt.Exchange = _sdk_class(exchange_id)({
            "apiKey": api_key, "secret": api_secret, "password": passphrase or "",
            "enableRateLimit": client_rate_limit, "timeout": int(timeout_seconds * 1000),
            "logger": _SDK_LOG,
            "options": {"defaultType": "swap", "fetchMarkets": {"types": ["swap"]},
                        "ws": {"keepAlive": int(PING_AFTER_SECONDS * 1000)}},
        })
        if demo:
            # Before any URL override: sandbox mode replaces urls["api"] with the test URLs.
            try:
                self.exchange.set_sandbox_mode(True)
            except ccxt.NotSupported:
                raise ValueError(f"ccxt {exchange_id} has no demo/sandbox mode") from None
        if base_url:
            api = self.exchange.urls.get("api")
            base = base_url.rstrip("/")
            # OKX: {"rest": ...}; Bitget: one URL per API family. All go to `base`
            # (the websocket ones, below, to its host over ws).
            self.exchange.urls["api"] = ({key: value if _websocket(value) else base
                                          for key, value in api.items()}
                                         if isinstance(api, dict) else base)
        self.exchange.urls["api"] = point_ws(self.exchange.urls.get("api"), ws_url, base_url)
        self.dialect = parse.DIALECTS.get(exchange_id, parse.GENERIC)
        self._instruments = InstrumentCache(self._load_markets, MARKETS_REFRESH_SECONDS)
        self._stream: CcxtStream | None = None

    @property
    def can_stream(self) -> bool:
        """ccxt watches this exchange's positions and marks; else `watch` does nothing."""
        return can_stream(self.exchange)

    def watch(self, changed: Callable[[], None]) -> None:
        """Stream this account's positions and marks from now on, where ccxt can; `changed`
        is called on every change. `positions()` then answers from the stream while it is
        live. An exchange ccxt cannot watch stays on REST."""
        if self._stream is not None:
            return
        if not self.can_stream:
            log.info("ccxt_stream_unavailable account=%s exchange=%s", self.name,
                     self.exchange_id)
            return
        self._stream = CcxtStream(self.name, self.exchange, self._instruments, changed,
                                  venue_rate=self.dialect.venue_profit_rate)
        self._stream.start()

    async def unwatch(self) -> None:
        """Stop streaming (the account moved to another process of a cluster): REST
        from now on, until `watch` again."""
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.close()

    def _trading(self, symbol: str, *, order: bool = True) -> None:
        if self._stream is not None:
            self._stream.traded(symbol, order=order)

    # -- calling ccxt -------------------------------------------------------------------

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except ccxt.BaseError as exc:
            raise parse.venue_error(exc, self.exchange_id) from None

    async def _read(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        return await retrying(lambda: self._call(call), policy=self._retry,
                              retry_on=READ_RETRY_ON, what=what, sleep=self._sleep)

    async def _write(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        return await retrying(lambda: self._call(call), policy=self._retry,
                              retry_on=WRITE_RETRY_ON, what=what, sleep=self._sleep)

    # -- instruments and market data ----------------------------------------------------

    async def _load_markets(self, reload: bool) -> list[Instrument | None]:
        markets = await self._read("markets", lambda: self.exchange.load_markets(reload))
        mode = self.exchange.precisionMode
        return [parse.instrument_from(m, mode) for m in markets.values()]

    async def instruments(self) -> Sequence[Instrument]:
        return await self._instruments.all()

    async def instrument(self, symbol: str) -> Instrument:
        inst = await self._instruments.get(symbol)
        if inst is None:
            raise UnknownInstrument(f"no perpetual swap {symbol}", venue=self.venue)
        return inst

    async def order_book(self, symbol: str, depth: int = 5) -> OrderBook:
        await self.instrument(symbol)
        # A venue with fixed depths gets the smallest that holds `depth` (none: its default).
        gears = self.dialect.book_depths
        limit = next((g for g in gears if g >= depth), None) if gears else depth
        book = await self._read("order book",
                                lambda: self.exchange.fetch_order_book(symbol, limit))

        def levels(rows: list[list[Any]]) -> tuple[BookLevel, ...]:
            return tuple(BookLevel(parse.dec0(r[0]), parse.dec0(r[1])) for r in rows[:depth])

        return OrderBook(symbol=symbol, bids=levels(book["bids"]), asks=levels(book["asks"]),
                         time=parse.when(book.get("timestamp")))

    async def mark_price(self, symbol: str) -> Decimal:
        await self.instrument(symbol)
        if self.exchange.has.get("fetchMarkPrice"):
            ticker = await self._read("mark price",
                                      lambda: self.exchange.fetch_mark_price(symbol))
        else:
            ticker = await self._read("ticker", lambda: self.exchange.fetch_ticker(symbol))
        price = parse.dec(ticker.get("markPrice")) or parse.dec(ticker.get("last"))
        if price is None:
            raise UnknownInstrument(f"no mark price for {symbol}", venue=self.venue)
        return price

    async def candles(self, symbol: str, bar: str = "5m", limit: int = 96) -> Sequence[Candle]:
        bar_seconds(bar)  # a bar no venue draws is refused before any request
        await self.instrument(symbol)
        # Our bar names are ccxt's unified timeframes, which it maps to the venue's; its
        # rows come sorted oldest first, whatever order the venue sent.
        rows = await self._read("candles", lambda: self.exchange.fetch_ohlcv(
            symbol, bar, limit=limit))
        return [parse.candle_from(row) for row in rows]

    # -- account ------------------------------------------------------------------------

    async def _positions(self, symbol: str | None = None) -> list[Position]:
        symbols = [symbol] if symbol else None
        rows = await self._read("positions", lambda: self.exchange.fetch_positions(symbols))
        held = []
        for row in rows:
            if parse.dec0(row.get("contracts")) == 0 or row.get("side") not in ("long", "short"):
                continue
            inst = await self._instruments.get(str(row.get("symbol")))
            if inst is None:
                log.warning("ccxt_position_skipped account=%s symbol=%s", self.name,
                            row.get("symbol"))
                continue
            held.append(parse.position_from(self.name, inst, row,
                                            venue_rate=self.dialect.venue_profit_rate))
        return held

    async def positions(self) -> Sequence[Position]:
        live = self._stream.positions() if self._stream is not None else None
        return live if live is not None else await self._positions()

    async def balance(self) -> Balance:
        answer = await self._read("balance", lambda: self.exchange.fetch_balance())
        usdt = answer.get("USDT") or {}
        return Balance(currency="USDT", equity=parse.dec0(usdt.get("total")),
                       free=parse.dec0(usdt.get("free")))

    # -- orders -------------------------------------------------------------------------

    def _check_grid(self, request: OrderRequest, inst: Instrument) -> None:
        if not is_lot_multiple(request.size, inst):
            raise BadPrecision(f"size {request.size} is not a multiple of the lot size "
                               f"{inst.lot_size} of {inst.symbol}", code="lot",
                               venue=self.venue)
        if request.price is not None and not is_tick_multiple(request.price, inst):
            raise BadPrecision(f"price {request.price} is not on the tick {inst.tick_size} "
                               f"of {inst.symbol}", code="tick", venue=self.venue)

    async def place_order(self, request: OrderRequest) -> Order:
        if not request.client_id:  # an order we could not look up after a timeout
            raise InvalidOrder("an order needs a client id", venue=self.venue)
        inst = await self.instrument(request.symbol)
        self._check_grid(request, inst)
        # Some venues accept a finished order's client id again: ask before sending
        # (unless the id was never sent before).
        existing = None if request.fresh else await self._existing(request.symbol,
                                                                   request.client_id)
        if existing is not None:
            return existing
        self._trading(request.symbol)
        params: dict[str, Any] = {"clientOrderId": request.client_id, "marginMode": "isolated",
                                  **self.dialect.order_params(request.position_side)}
        if request.reduce_only:
            params["reduceOnly"] = True
        kind, price = "limit", request.price
        if request.type is OrderType.MARKET and price is None:
            kind = "market"
        elif request.type is OrderType.MARKET or request.time_in_force is TimeInForce.IOC:
            # A market order bounded by a worst price is an IOC limit at that price.
            params["timeInForce"] = "IOC"
        size, limit = parse.num(request.size), parse.num(price) if price is not None else None
        try:
            await self._write("place order", lambda: self.exchange.create_order(
                request.symbol, kind, request.side.value, size, limit, dict(params)))
        except InvalidOrder as exc:
            if exc.code is None or exc.code != parse.DUPLICATE_CLIENT_ID.get(self.exchange_id):
                raise
        try:
            return await self.order_by_client_id(request.symbol, request.client_id)
        except (OrderUnknown, RateLimited, VenueUnavailable) as exc:
            log.info("ccxt_order_not_readable_yet client_id=%s error=%s", request.client_id,
                     exc)
            return Order(client_id=request.client_id, venue_id="", symbol=request.symbol,
                         side=request.side, position_side=request.position_side,
                         type=request.type, size=request.size, price=request.price,
                         reduce_only=request.reduce_only,
                         time_in_force=request.time_in_force, expire_at=request.expire_at,
                         state=OrderState.LIVE)

    async def _existing(self, symbol: str, client_id: str) -> Order | None:
        try:
            return await self.order_by_client_id(symbol, client_id)
        except OrderUnknown:
            return None

    async def order_by_client_id(self, symbol: str, client_id: str) -> Order:
        answer = await self._read("order", lambda: self.exchange.fetch_order(
            "", symbol, {"clientOrderId": client_id}))
        return parse.order_from(answer)

    async def order_by_venue_id(self, symbol: str, venue_id: str) -> Order:
        answer = await self._read("order", lambda: self.exchange.fetch_order(venue_id, symbol))
        return parse.order_from(answer)

    async def cancel_order(self, symbol: str, *, client_id: str | None = None,
                           venue_id: str | None = None) -> Order:
        if not client_id and not venue_id:
            raise InvalidOrder("a client id or a venue id is needed to cancel",
                               venue=self.venue)
        params = {} if venue_id else {"clientOrderId": client_id}
        await self._write("cancel order", lambda: self.exchange.cancel_order(
            venue_id or "", symbol, dict(params)))
        if venue_id:
            return await self.order_by_venue_id(symbol, venue_id)
        return await self.order_by_client_id(symbol, client_id or "")

    async def open_orders(self, symbol: str | None = None) -> Sequence[Order]:
        rows = await self._read("open orders", lambda: self.exchange.fetch_open_orders(symbol))
        return [parse.order_from(row) for row in rows]

    async def fills(self, symbol: str | None = None, *, client_id: str | None = None,
                    venue_id: str | None = None) -> Sequence[Fill]:
        if client_id and not venue_id and symbol:
            try:
                venue_id = (await self.order_by_client_id(symbol, client_id)).venue_id
            except OrderUnknown:
                return []
        if venue_id and symbol and self.exchange.has.get("fetchOrderTrades"):
            trades = await self._read("fills", lambda: self.exchange.fetch_order_trades(
                venue_id, symbol))
        else:
            # Asked by order where the venue can, so an order's fills are not lost behind
            # a page of newer ones; filtered here in any case.
            key = self.dialect.order_filter
            params = {key: venue_id} if key and venue_id else {}
            trades = await self._read("fills", lambda: self.exchange.fetch_my_trades(
                symbol, params=dict(params)))
            trades = [t for t in trades if venue_id in (None, str(t.get("order")))]
        found = [parse.fill_from(t, client_id or "") for t in trades]
        if client_id:
            found = [f for f in found if f.client_id == client_id]
        return sorted(found, key=lambda f: f.time)

    # -- leverage and margin ------------------------------------------------------------

    async def set_leverage(self, symbol: str, side: Side, leverage: Decimal) -> Decimal:
        await self.instrument(symbol)
        value: int | float = (int(leverage) if leverage == leverage.to_integral_value()
                              else parse.num(leverage))
        self._trading(symbol, order=False)
        await self._write("set leverage", lambda: self.exchange.set_leverage(
            value, symbol, self.dialect.leverage_params(side)))
        # SPEC §8: read it back; a venue may adjust or ignore the setting. (ccxt reads
        # leverage as an integer: 12.5x would come back as 12.)
        answer = await self._read("leverage", lambda: self.exchange.fetch_leverage(
            symbol, self.dialect.leverage_params()))
        key = "longLeverage" if side is Side.LONG else "shortLeverage"
        read = parse.dec(answer.get(key))
        if read is None:
            raise VenueError(f"{self.exchange_id} did not report the {side} leverage of "
                             f"{symbol}", venue=self.venue)
        return read

    async def change_margin(self, symbol: str, side: Side, amount: Decimal) -> MarginChange:
        inst = await self.instrument(symbol)
        self._trading(symbol, order=False)
        if self.exchange_id == "okx":
            # ccxt 4.5.90's okx add/reduce_margin sends the request, then fails parsing
            # the answer (TypeError): call the endpoint itself, through ccxt's signing.
            market_id = self.exchange.market(symbol)["id"]
            await self._write("margin change", lambda: self.exchange.
                              privatePostAccountPositionMarginBalance({
                                  "instId": market_id, "posSide": side.value,
                                  "type": "add" if amount > 0 else "reduce",
                                  "amt": format(abs(amount).normalize(), "f")}))
        elif self.exchange_id == "bitget":
            # ccxt 4.5.90's bitget add/reduce_margin pass the amount through
            # amount_to_precision, i.e. truncate USDT to the market's size step (2.5 USDT
            # of APT margin would go out as 2): send the exact, signed amount itself.
            market = self.exchange.market(symbol)
            product_type, _ = self.exchange.handle_product_type_and_params(market, {})
            await self._write("margin change", lambda: self.exchange.
                              privateMixPostV2MixAccountSetMargin({
                                  "symbol": market["id"], "marginCoin": market["settleId"],
                                  "productType": product_type,
                                  self.dialect.margin_key: side.value,
                                  "amount": format(amount.normalize(), "f")}))
        else:
            params = {self.dialect.margin_key: side.value}
            if amount > 0:
                await self._write("margin change", lambda: self.exchange.add_margin(
                    symbol, parse.num(amount), dict(params)))
            else:
                await self._write("margin change", lambda: self.exchange.reduce_margin(
                    symbol, parse.num(abs(amount)), dict(params)))
        pos = next((p for p in await self._positions(symbol) if p.side is side), None)
        if pos is None:
            raise PositionNotFound(f"no {side} position in {symbol} after the margin change",
                                   venue=self.venue)
        real = notional(pos.size, pos.mark_price, inst) / pos.margin if pos.margin else pos.leverage
        return MarginChange(symbol=symbol, side=side, amount=amount, margin_after=pos.margin,
                            leverage_after=real)

    async def close(self) -> None:
        await self.unwatch()
        await self.exchange.close()


def _websocket(url: object) -> bool:
    """A websocket URL or a group of them (Bitget's "ws" and "demo")."""
    return isinstance(url, dict) or (isinstance(url, str) and url.startswith(("ws://", "wss://")))
