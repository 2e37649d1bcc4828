"""Lighter through lighter-sdk: one account (`account_index`) trading with one API key
(`api_key_index` and its private key), isolated margin, sizes in the base coin.

Orders are signed by the SDK's native signer (`SignerClient`) and sent as transactions;
an answer of `code 200` only means the transaction was accepted for sequencing, so an
order is always looked up afterwards (by its client order index, see `wire`) and followed
to its end by the executor. A just-sent order can take a few seconds to be visible: its
look-ups absorb that grace here, never in the executor. An invalid nonce (21104) is sent
once more (the SDK has fetched the nonce again by then). Reads are retried on outages and
rate limits; a write that times out raises `RequestTimeout`, and the executor looks the
order up before anything is sent again. `watch` streams positions and marks over Lighter's
websocket (stream.py); `positions()` answers from it while it is live and fresh.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from bot.domain import (
    Balance,
    Candle,
    Fill,
    Instrument,
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
from bot.sizing import notional
from bot.venues.base import (
    InvalidOrder,
    OrderUnknown,
    PositionNotFound,
    RequestTimeout,
    UnknownInstrument,
    VenueError,
    VenueUnavailable,
    bar_seconds,
)
from bot.venues.instrument_cache import InstrumentCache
from bot.venues.lighter import codes, parse
from bot.venues.lighter.parse import Market
from bot.venues.lighter.stream import STREAM_PATH, LighterStream, ws_base
from bot.venues.lighter.wire import client_order_index, to_units
from bot.venues.retry import READ_RETRY_ON, RetryPolicy, Sleep, retrying

log = logging.getLogger(__name__)

T = TypeVar("T")
MAINNET = "https://mainnet.zklighter.elliot.ai"
VENUE = "lighter"
AUTH_TOKEN_SECONDS = 600  # the SDK's default lifetime; renewed a minute before it ends
INVALID_NONCE = "21104"
ISOLATED = 1  # SignerClient.ISOLATED_MARGIN_MODE
ADD, REMOVE = 1, 0  # SignerClient.ISOLATED_MARGIN_ADD_COLLATERAL / _REMOVE_COLLATERAL
MAX_CANDLES = 500  # Lighter's most candles a call


class LighterVenue:
    venue = VENUE

    def __init__(self, name: str, *, api_key: str, account_index: int, api_key_index: int,
                 base_url: str | None = None, timeout_seconds: float = 10,
                 retry: RetryPolicy | None = None, sleep: Sleep = asyncio.sleep,
                 visible_within_seconds: float = 5,
                 clock: Callable[[], float] = time.time, ws_url: str | None = None) -> None:
        """`ws_url`: where `watch` streams from, scheme and host (none: base_url's host,
        or Lighter's mainnet); the stream is at its "/stream"."""
        if not re.fullmatch(r"(0x)?[0-9a-fA-F]{80}", api_key):
            raise ValueError("api_key is not a Lighter API private key (80 hex digits, as "
                             "Lighter's create_api_key gives it)")
        self.name = name
        self.account_index = account_index
        self.api_key_index = api_key_index
        self.base_url = (base_url or MAINNET).rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.visible_within_seconds = visible_within_seconds
        self._api_key = api_key
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock  # epoch seconds: where a window of candles ends
        self._signer: Any = None  # built on first use: the SDK needs a running loop
        self._order_api: Any = None
        self._account_api: Any = None
        self._candle_api: Any = None
        self._markets: dict[str, Market] = {}
        self._instruments = InstrumentCache(self._load_markets, refresh_seconds=3600)
        self._token: tuple[str, float] | None = None
        self._sent: dict[str, float] = {}  # client id -> when it was sent (monotonic)
        self.ws_url = ws_base(ws_url, self.base_url)
        self._stream: LighterStream | None = None

    # -- the stream -----------------------------------------------------------------------

    def watch(self, changed: Callable[[], None]) -> None:
        """Stream the account's positions and the marks of its markets, calling `changed`
        on every change. `positions()` then answers from the stream while it is live."""
        if self._stream is None:
            self._stream = LighterStream(self.name, self.account_index,
                                         self.ws_url + STREAM_PATH, self._market_by_id,
                                         self._auth, changed)
            self._stream.start()

    async def unwatch(self) -> None:
        """Stop streaming (the account moved to another process of a cluster): REST
        from now on, until `watch` again."""
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.close()

    def _trading(self, symbol: str) -> None:
        if self._stream is not None:
            self._stream.traded(symbol)

    # -- the SDK --------------------------------------------------------------------------

    def _client(self) -> Any:
        if self._signer is None:
            import lighter  # two seconds to import: only a Lighter account pays
            from lighter.signer_client import SignerClient

            self._signer = SignerClient(url=self.base_url, account_index=self.account_index,
                                        api_private_keys={self.api_key_index: self._api_key})
            self._order_api = lighter.OrderApi(self._signer.api_client)
            self._account_api = lighter.AccountApi(self._signer.api_client)
            self._candle_api = lighter.CandlestickApi(self._signer.api_client)
        return self._signer

    def _auth(self) -> str:
        now = time.time()
        if self._token is None or self._token[1] - now < 60:
            token, error = self._client().create_auth_token_with_expiry(
                AUTH_TOKEN_SECONDS, api_key_index=self.api_key_index)
            if error:
                raise codes.venue_error(None, f"auth token: {error}")
            self._token = (token, now + AUTH_TOKEN_SECONDS)
        return self._token[0]

    async def _read(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        async def once() -> T:
            try:
                return await asyncio.wait_for(call(), self.timeout_seconds)
            except VenueError:
                raise
            except TimeoutError:
                raise VenueUnavailable(f"{what}: no answer in {self.timeout_seconds:g} s",
                                       code="timeout", venue=VENUE) from None
            except Exception as exc:
                raise codes.from_exception(exc, what) from exc

        return await retrying(once, policy=self._retry, retry_on=READ_RETRY_ON, what=what,
                              sleep=self._sleep)

    async def _send(self, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """One signed transaction. Its outcome is unknown after a timeout (it may have been
        sequenced): RequestTimeout, and the caller looks before sending again."""
        for attempt in (1, 2):
            try:
                _, answer, error = await asyncio.wait_for(call(), self.timeout_seconds)
            except TimeoutError:
                raise RequestTimeout(f"{what}: no answer in {self.timeout_seconds:g} s",
                                     code="timeout", venue=VENUE) from None
            except Exception as exc:
                raise codes.from_exception(exc, what) from exc
            if error:
                failure = codes.from_text(str(error), what)
            elif answer is not None and int(getattr(answer, "code", 200)) != codes.OK:
                failure = codes.venue_error(getattr(answer, "code", None),
                                            f"{what}: {getattr(answer, 'message', '')}")
            else:
                return answer
            if failure.code == INVALID_NONCE and attempt == 1:
                log.warning("lighter_invalid_nonce account=%s what=%s: sent once more",
                            self.name, what)
                continue
            raise failure
        raise AssertionError("unreachable")

    # -- markets ------------------------------------------------------------------------

    async def _load_markets(self, reload: bool) -> list[Instrument]:
        self._client()
        answer = await self._read("markets", lambda: self._order_api.order_book_details(
            filter="perp"))
        markets = [parse.market_from(d) for d in _rows(answer, "order_book_details")]
        self._markets = {m.symbol: m for m in markets if m is not None}
        return [m.instrument for m in self._markets.values()]

    async def _market(self, symbol: str) -> Market:
        if await self._instruments.get(symbol) is None:
            raise UnknownInstrument(f"{symbol} is not a Lighter market", code="51001",
                                    venue=VENUE)
        return self._markets[symbol]

    async def _market_by_id(self, market_id: int) -> Market | None:
        await self._instruments.all()
        return next((m for m in self._markets.values() if m.market_id == market_id), None)

    async def instruments(self) -> Sequence[Instrument]:
        return await self._instruments.all()

    async def instrument(self, symbol: str) -> Instrument:
        return (await self._market(symbol)).instrument

    # -- the account --------------------------------------------------------------------

    async def _account(self) -> dict[str, Any]:
        self._client()
        answer = await self._read("account", lambda: self._account_api.account(
            by="index", value=str(self.account_index)))
        accounts = _rows(answer, "accounts")
        if not accounts:
            raise codes.venue_error("21100", f"account {self.account_index} not found")
        return accounts[0]

    async def positions(self) -> Sequence[Position]:
        live = self._stream.positions() if self._stream is not None else None
        if live is not None:
            return live
        account, held = await self._account(), []
        for row in account.get("positions") or []:
            market = await self._market_by_id(int(row.get("market_id", -1)))
            position = parse.position_from(self.name, row, market) if market else None
            if position is not None:
                held.append(position)
        return held

    async def balance(self) -> Balance:
        return parse.balance_from(await self._account())

    async def order_book(self, symbol: str, depth: int = 5) -> OrderBook:
        market = await self._market(symbol)
        answer = await self._read("order book", lambda: self._order_api.order_book_orders(
            market_id=market.market_id, limit=max(1, min(depth, 250))))
        return parse.book_from(symbol, _dict(answer))

    async def mark_price(self, symbol: str) -> Decimal:
        market = await self._market(symbol)
        answer = await self._read("mark price", lambda: self._order_api.order_book_details(
            market_id=market.market_id))
        fresh = [parse.market_from(d) for d in _rows(answer, "order_book_details")]
        mark = next((m.mark for m in fresh if m and m.market_id == market.market_id), None)
        if mark is None:
            raise VenueUnavailable(f"no mark price for {symbol}", venue=VENUE)
        return mark

    async def candles(self, symbol: str, bar: str = "5m", limit: int = 96) -> Sequence[Candle]:
        """Lighter asks for a time window (ms) as well as a count: the window that holds
        `limit` bars up to now; our bar names are Lighter's resolutions."""
        length_ms = bar_seconds(bar) * 1000
        market = await self._market(symbol)
        limit = min(limit, MAX_CANDLES)
        end = int(self._clock() * 1000)
        answer = await self._read("candles", lambda: self._candle_api.candles(
            market_id=market.market_id, resolution=bar, start_timestamp=end - limit * length_ms,
            end_timestamp=end, count_back=limit))
        candles = sorted((parse.candle_from(row) for row in _rows(answer, "c")),
                         key=lambda c: c.time)
        return candles[-limit:]

    # -- orders -------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> Order:
        market = await self._market(request.symbol)
        signer = self._client()
        if request.price is None:
            raise InvalidOrder("a Lighter order needs a price (a market order's worst "
                               "price)", code="price", venue=VENUE)
        base = to_units(request.size, market.size_decimals, "size")
        price = to_units(request.price, market.price_decimals, "price")
        kind, tif, expiry = _order_kind(signer, request)
        index = client_order_index(request.client_id)
        self._trading(request.symbol)
        await self._send(f"order {request.client_id}", lambda: signer.create_order(
            market_index=market.market_id, client_order_index=index, base_amount=base,
            price=price, is_ask=request.side is OrderSide.SELL, order_type=kind,
            time_in_force=tif, reduce_only=request.reduce_only, order_expiry=expiry))
        self._sent[request.client_id] = time.monotonic()
        return Order(client_id=request.client_id, venue_id="", symbol=request.symbol,
                     side=request.side, position_side=request.position_side,
                     type=request.type, size=request.size, price=request.price,
                     reduce_only=request.reduce_only, time_in_force=request.time_in_force,
                     expire_at=request.expire_at, state=OrderState.LIVE)

    async def order_by_client_id(self, symbol: str, client_id: str) -> Order:
        market, index = await self._market(symbol), client_order_index(client_id)
        while True:
            answer = await self._read(f"order {client_id}", lambda: self._order_api.account_orders(
                authorization=self._auth(), client_order_indexes=str(index),
                account_index=self.account_index))
            found = [r for r in _rows(answer, "orders")
                     if int(r.get("client_order_index", -1)) == index]
            if found:
                order = parse.order_from(found[-1], market, client_id)
                if self._stream is not None and order.state.is_final and not order.filled_size:
                    self._stream.filled_nothing(symbol)
                return order
            sent = self._sent.get(client_id)
            if sent is None or time.monotonic() - sent > self.visible_within_seconds:
                raise OrderUnknown(f"order {client_id} (client index {index}) not found",
                                   code="order_not_found", venue=VENUE)
            await self._sleep(0.5)  # just sent: Lighter shows it within a few seconds

    async def order_by_venue_id(self, symbol: str, venue_id: str) -> Order:
        market = await self._market(symbol)
        for row in await self._orders(market, active=True) + await self._orders(market,
                                                                               active=False):
            if str(row.get("order_index")) == venue_id:
                return parse.order_from(row, market, self._client_id_of(row))
        raise OrderUnknown(f"order {venue_id} not found", code="order_not_found", venue=VENUE)

    async def cancel_order(self, symbol: str, *, client_id: str | None = None,
                           venue_id: str | None = None) -> Order:
        order = await (self.order_by_client_id(symbol, client_id) if client_id
                       else self.order_by_venue_id(symbol, venue_id or ""))
        if order.state.is_final:  # filled or cancelled meanwhile (as OKX's 51400)
            raise OrderUnknown(f"order {order.client_id} is {order.state.value} already",
                               code="order_final", venue=VENUE)
        market, signer = await self._market(symbol), self._client()
        await self._send(f"cancel {order.client_id}", lambda: signer.cancel_order(
            market_index=market.market_id, order_index=int(order.venue_id)))
        return order

    async def open_orders(self, symbol: str | None = None) -> Sequence[Order]:
        markets = [await self._market(symbol)] if symbol else [
            await self._market(i.symbol) for i in await self._instruments.all()]
        return [parse.order_from(row, m, self._client_id_of(row))
                for m in markets for row in await self._orders(m, active=True)]

    async def fills(self, symbol: str | None = None, *, client_id: str | None = None,
                    venue_id: str | None = None) -> Sequence[Fill]:
        if symbol is None or (client_id is None and venue_id is None):
            raise InvalidOrder("Lighter fills are read per order", venue=VENUE)
        order = await (self.order_by_client_id(symbol, client_id) if client_id
                       else self.order_by_venue_id(symbol, venue_id or ""))
        market = await self._market(symbol)
        answer = await self._read(f"fills {order.client_id}", lambda: self._order_api.trades(
            sort_by="timestamp", limit=100, authorization=self._auth(),
            account_index=self.account_index, market_id=market.market_id,
            order_index=int(order.venue_id)))
        return [parse.fill_from(t, market, self.account_index, order)
                for t in _rows(answer, "trades")]

    async def _orders(self, market: Market, *, active: bool) -> list[dict[str, Any]]:
        self._client()
        api = self._order_api
        if active:
            answer = await self._read("open orders", lambda: api.account_active_orders(
                authorization=self._auth(), account_index=self.account_index,
                market_id=market.market_id))
        else:
            answer = await self._read("past orders", lambda: api.account_inactive_orders(
                authorization=self._auth(), account_index=self.account_index, limit=100,
                market_id=market.market_id))
        return _rows(answer, "orders")

    def _client_id_of(self, row: dict[str, Any]) -> str:
        """Our client id of an order we sent, if this process sent it; else its index."""
        index = int(row.get("client_order_index", 0))
        return next((c for c in self._sent if client_order_index(c) == index), str(index))

    # -- leverage and margin ------------------------------------------------------------

    async def set_leverage(self, symbol: str, side: Side, leverage: Decimal) -> Decimal:
        """Lighter sets leverage per market (both sides): isolated, read back."""
        market, signer = await self._market(symbol), self._client()
        self._trading(symbol)
        await self._send(f"leverage {symbol}", lambda: signer.update_leverage(
            market_index=market.market_id, margin_mode=ISOLATED, leverage=int(leverage)))
        held = await self._held(symbol, side)
        return held.leverage if held is not None else leverage

    async def change_margin(self, symbol: str, side: Side, amount: Decimal) -> MarginChange:
        market, signer = await self._market(symbol), self._client()
        units = to_units(abs(amount), 6, "margin")  # USDC, in millionths
        self._trading(symbol)
        # The SDK multiplies a float by 1e6 and truncates: half a unit up makes that the
        # exact integer (1.79 would otherwise go out as 1789999).
        await self._send(f"margin {symbol}", lambda: signer.update_margin(
            market_index=market.market_id, usdc_amount=(units + 0.5) / 1_000_000,
            direction=ADD if amount > 0 else REMOVE))
        held = await self._held(symbol, side)
        if held is None:
            raise PositionNotFound(f"no {side} position in {symbol} after the margin change",
                                   code="no_position", venue=VENUE)
        real = (notional(held.size, held.mark_price, held.instrument) / held.margin
                if held.margin else held.leverage)
        return MarginChange(symbol=symbol, side=side, amount=amount,
                            margin_after=held.margin, leverage_after=real)

    async def _held(self, symbol: str, side: Side) -> Position | None:
        """Read back after a leverage or margin write: REST while the stream waits for
        that write, and a REST view the stream already agrees with settles it (a write
        that changed nothing is never pushed)."""
        held = await self.positions()
        if self._stream is not None:
            self._stream.unchanged(symbol, next((p for p in held if p.symbol == symbol), None))
        return next((p for p in held if p.symbol == symbol and p.side is side), None)

    async def close(self) -> None:
        await self.unwatch()
        if self._signer is not None:
            await self._signer.close()


def _order_kind(signer: Any, request: OrderRequest) -> tuple[int, int, int]:
    """(order type, time in force, expiry in ms) as the signer takes them."""
    if request.type is OrderType.MARKET:
        return signer.ORDER_TYPE_MARKET, signer.ORDER_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL, 0
    if request.time_in_force is TimeInForce.IOC:
        return signer.ORDER_TYPE_LIMIT, signer.ORDER_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL, 0
    expiry = _ms(request.expire_at) if request.expire_at else -1  # -1: the venue's 28 days
    return signer.ORDER_TYPE_LIMIT, signer.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME, expiry


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _dict(answer: Any) -> dict[str, Any]:
    if isinstance(answer, dict):
        return answer
    if hasattr(answer, "to_dict"):
        return dict(answer.to_dict())
    return dict(json.loads(answer.to_json()))


def _rows(answer: Any, key: str) -> list[dict[str, Any]]:
    return [r if isinstance(r, dict) else _dict(r) for r in (_dict(answer).get(key) or [])]
