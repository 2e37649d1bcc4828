"""OKX v5: one account (main or sub-account, each with its own key).

Requests go through the site's shared asynchronous HTTP client (`OkxSite`: one
connection pool for all accounts, no worker threads), signed with python-okx's helpers
at python-okx's endpoint paths. The account trades in long/short position mode with
isolated margin; sizes are contracts; our client ids go out as `clOrdId`. Reads are
retried with backoff; writes only after a rate-limit answer (the order was not taken).
A write that times out raises `RequestTimeout`: the executor then looks the order up by
client id before anything is sent again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import aiohttp
from okx import consts as c
from okx.consts import GET, POST

from bot.domain import (
    Balance,
    Candle,
    Fill,
    Instrument,
    MarginChange,
    Order,
    OrderBook,
    OrderRequest,
    OrderState,
    Position,
    Side,
)
from bot.sizing import notional
from bot.venues.base import (
    InvalidOrder,
    OrderUnknown,
    PositionNotFound,
    RateLimited,
    RequestTimeout,
    UnknownInstrument,
    VenueError,
    VenueUnavailable,
    bar_seconds,
)
from bot.venues.okx import parse
from bot.venues.okx.site import OkxKeys, OkxSite
from bot.venues.okx.stream import OkxStream, ws_base
from bot.venues.retry import READ_RETRY_ON, WRITE_RETRY_ON, RetryPolicy, Sleep, retrying

log = logging.getLogger(__name__)

VENUE = parse.VENUE
INST_TYPE = "SWAP"
PAGE = 100  # OKX's largest page of fills
MAX_PAGES = 20
BARS = {"1m": "1m", "5m": "5m", "15m": "15m", "1h": "1H"}  # OKX writes hours in capitals
MAX_CANDLES = 300  # /market/candles gives at most this many a request
PUBLIC_PATHS = ("/api/v5/public/", "/api/v5/market/")


class OkxVenue:
    venue = VENUE

    def __init__(self, name: str, *, api_key: str, api_secret: str, passphrase: str,
                 demo: bool = False, base_url: str | None = None, ws_url: str | None = None,
                 timeout_seconds: float = 10.0, retry: RetryPolicy | None = None,
                 sleep: Sleep = asyncio.sleep, site: OkxSite | None = None) -> None:
        """`site`: the HTTP client and instrument list shared by the accounts of one
        site (the factory passes one per base URL and mode); none: this account's own.
        `ws_url`: where `watch` streams from (none: OKX's, or base_url's host)."""
        self.name = name
        self.timeout_seconds = timeout_seconds
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._keys = OkxKeys(api_key, api_secret, passphrase)
        self._site = (site or OkxSite(demo=demo, base_url=base_url)).join()
        self._instruments = self._site.instruments(self._load_instruments)
        self._mode_checked = False
        self.ws_url = ws_base(ws_url, base_url, demo)
        self._stream: OkxStream | None = None

    def watch(self, changed: Callable[[], None]) -> None:
        """Stream this account's positions and marks from now on; `changed` is called on
        every change. `positions()` then answers from the stream while it is live."""
        if self._stream is None:
            self._stream = OkxStream(self.name, self._keys, self.ws_url, self._instruments,
                                     changed)
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

    # -- calling the API ----------------------------------------------------------------

    async def _call(self, what: str, method: str, path: str, **params: Any
                    ) -> list[dict[str, Any]]:
        # Market data carries no key: those requests are not signed at all.
        keys = None if path.startswith(PUBLIC_PATHS) else self._keys
        try:
            answer = await self._site.request(method, path, params, keys=keys,
                                              timeout=self.timeout_seconds)
        except TimeoutError:
            raise RequestTimeout(f"{what}: no answer within {self.timeout_seconds:g} s",
                                 code="timeout", venue=VENUE) from None
        except aiohttp.ClientError as exc:
            raise VenueUnavailable(f"{what}: {type(exc).__name__}", venue=VENUE) from None
        except json.JSONDecodeError:
            # A proxy's HTML error page, an empty body: not an answer from OKX's API.
            raise VenueUnavailable(f"{what}: the answer was not JSON", venue=VENUE) from None
        return parse.data_of(answer)

    async def _read(self, what: str, method: str, path: str, **params: Any
                    ) -> list[dict[str, Any]]:
        return await retrying(lambda: self._call(what, method, path, **params), policy=self._retry,
                              retry_on=READ_RETRY_ON, what=what, sleep=self._sleep)

    async def _write(self, what: str, method: str, path: str, **params: Any
                     ) -> list[dict[str, Any]]:
        return await retrying(lambda: self._call(what, method, path, **params), policy=self._retry,
                              retry_on=WRITE_RETRY_ON, what=what, sleep=self._sleep)

    async def _ensure_account_mode(self) -> None:
        """Orders carry `posSide` and isolated margin: an account in net mode or spot
        mode would refuse every one of them, so say why once, clearly, before trading."""
        if self._mode_checked:
            return
        rows = await self._read("account config", GET, c.ACCOUNT_CONFIG)
        config = rows[0] if rows else {}
        if config.get("posMode") != "long_short_mode":
            raise InvalidOrder(f"account {self.name} is in position mode "
                               f"{config.get('posMode') or '?'}; the bot needs long/short "
                               "mode (OKX: Settings > Position mode)", code="posMode",
                               venue=VENUE)
        if str(config.get("acctLv")) == "1":
            raise InvalidOrder(f"account {self.name} is in spot mode, which cannot trade "
                               "swaps; switch it to futures mode", code="acctLv", venue=VENUE)
        self._mode_checked = True

    # -- instruments and market data ----------------------------------------------------

    async def _load_instruments(self, reload: bool) -> list[Instrument | None]:
        rows = await self._read("instruments", GET, c.INSTRUMENT_INFO,
                                instType=INST_TYPE)
        return [parse.instrument_from(row) for row in rows]

    async def instruments(self) -> Sequence[Instrument]:
        return await self._instruments.all()

    async def instrument(self, symbol: str) -> Instrument:
        inst = await self._instruments.get(symbol)
        if inst is None:
            raise UnknownInstrument(f"Instrument ID {symbol} does not exist", code="51001",
                                    venue=VENUE)
        return inst

    async def order_book(self, symbol: str, depth: int = 5) -> OrderBook:
        rows = await self._read("order book", GET, c.ORDER_BOOKS, instId=symbol,
                                sz=str(depth))
        return parse.book_from(symbol, rows)

    async def mark_price(self, symbol: str) -> Decimal:
        rows = await self._read("mark price", GET, c.MARK_PRICE,
                                instType=INST_TYPE, instId=symbol)
        price = parse.dec(rows[0].get("markPx")) if rows else None
        if price is None:
            raise UnknownInstrument(f"no mark price for {symbol}", code="51001", venue=VENUE)
        return price

    async def candles(self, symbol: str, bar: str = "5m", limit: int = 96) -> Sequence[Candle]:
        bar_seconds(bar)  # a bar no venue draws is refused before any request
        rows = await self._read("candles", GET, c.MARKET_CANDLES, instId=symbol,
                                bar=BARS[bar], limit=str(min(limit, MAX_CANDLES)))
        return parse.candles_from(rows)

    # -- account ------------------------------------------------------------------------

    async def _position_rows(self, symbol: str | None = None) -> list[dict[str, Any]]:
        return await self._read("positions", GET, c.POSITION_INFO, instType=INST_TYPE,
                                instId=symbol or "")

    async def positions(self) -> Sequence[Position]:
        live = self._stream.positions() if self._stream is not None else None
        if live is not None:
            return live
        held = []
        for row in await self._position_rows():
            if parse.dec0(row.get("pos")) == 0:  # OKX lists recently closed ones as 0
                continue
            inst = await self._instruments.get(str(row.get("instId")))
            if inst is None:
                log.warning("okx_position_skipped account=%s inst=%s (not a linear swap)",
                            self.name, row.get("instId"))
                continue
            held.append(parse.position_from(self.name, inst, row))
        return held

    async def balance(self) -> Balance:
        return parse.balance_from(await self._read("balance", GET, c.ACCOUNT_INFO,
                                                   ccy="USDT"))

    # -- orders -------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> Order:
        if not request.client_id:  # an order we could not look up after a timeout
            raise InvalidOrder("an order needs a client id", code="51000", venue=VENUE)
        await self._ensure_account_mode()
        # OKX refuses a duplicate clOrdId only while the first order is pending; a
        # finished one would be placed again. Ask first, so a resend never doubles (a
        # client id never sent before has nothing to find: one round trip saved).
        existing = None if request.fresh else await self._existing(request.symbol,
                                                                   request.client_id)
        if existing is not None:
            return existing
        self._trading(request.symbol)
        try:
            await self._write("place order", POST, c.PLACR_ORDER,  # (python-okx's spelling)
                              **parse.order_body(request))
        except InvalidOrder as exc:
            if exc.code != "51016":
                raise
            log.info("okx_duplicate_client_id client_id=%s", request.client_id)
        try:
            return await self.order_by_client_id(request.symbol, request.client_id)
        except (OrderUnknown, RateLimited, VenueUnavailable) as exc:
            # Accepted, but not readable yet: the executor follows it by client id.
            log.info("okx_order_not_readable_yet client_id=%s error=%s", request.client_id, exc)
            return _accepted(request)

    async def _existing(self, symbol: str, client_id: str) -> Order | None:
        try:
            return await self.order_by_client_id(symbol, client_id)
        except OrderUnknown:
            return None

    async def _order(self, symbol: str, **ids: str) -> Order:
        rows = await self._read("order", GET, c.ORDER_INFO, instId=symbol, **ids)
        if not rows:
            raise OrderUnknown("Order does not exist", code="51603", venue=VENUE)
        return parse.order_from(rows[0])

    async def order_by_client_id(self, symbol: str, client_id: str) -> Order:
        return await self._order(symbol, clOrdId=client_id)

    async def order_by_venue_id(self, symbol: str, venue_id: str) -> Order:
        return await self._order(symbol, ordId=venue_id)

    async def cancel_order(self, symbol: str, *, client_id: str | None = None,
                           venue_id: str | None = None) -> Order:
        if not client_id and not venue_id:
            raise InvalidOrder("a client id or a venue id is needed to cancel", code="51003",
                               venue=VENUE)
        ids = {"ordId": venue_id} if venue_id else {"clOrdId": client_id or ""}
        try:
            await self._write("cancel order", POST, c.CANCEL_ORDER, instId=symbol, **ids)
        except InvalidOrder as exc:
            if exc.code != "51410":  # already being cancelled: what we wanted
                raise
        return await self._order(symbol, **ids)

    async def open_orders(self, symbol: str | None = None) -> Sequence[Order]:
        rows = await self._read("open orders", GET, c.ORDERS_PENDING, instType=INST_TYPE,
                                instId=symbol or "")
        return [parse.order_from(row) for row in rows]

    async def fills(self, symbol: str | None = None, *, client_id: str | None = None,
                    venue_id: str | None = None) -> Sequence[Fill]:
        if client_id and not venue_id and symbol:
            # OKX filters fills by ordId, not by clOrdId.
            try:
                venue_id = (await self.order_by_client_id(symbol, client_id)).venue_id
            except OrderUnknown:
                return []
        rows = await self._fill_pages(c.ORDER_FILLS, symbol, venue_id)
        if not rows and venue_id:
            # /trade/fills keeps 3 days; older fills are in the 3-month history.
            rows = await self._fill_pages(c.ORDERS_FILLS_HISTORY, symbol, venue_id)
        found = [parse.fill_from(row) for row in rows]
        if client_id:
            found = [f for f in found if f.client_id == client_id]
        return sorted(found, key=lambda f: f.time)

    async def _fill_pages(self, path: str, symbol: str | None,
                          venue_id: str | None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        after = ""
        for _ in range(MAX_PAGES):  # newest first; `after` pages to older bills
            page = await self._read("fills", GET, path, instType=INST_TYPE, instId=symbol or "",
                                    ordId=venue_id or "", after=after, limit=str(PAGE))
            rows += page
            if len(page) < PAGE or not page[-1].get("billId"):
                break
            after = str(page[-1]["billId"])
        return rows

    # -- leverage and margin ------------------------------------------------------------

    async def set_leverage(self, symbol: str, side: Side, leverage: Decimal) -> Decimal:
        await self._ensure_account_mode()
        self._trading(symbol)
        await self._write("set leverage", POST, c.SET_LEVERAGE,
                          lever=parse.text(leverage), mgnMode="isolated", instId=symbol,
                          posSide=side.value)
        # SPEC §8: a venue may adjust or ignore a setting; what it reports back is the truth.
        rows = await self._read("leverage", GET, c.GET_LEVERAGE, mgnMode="isolated",
                                instId=symbol)
        for row in rows:
            if row.get("posSide") in (side.value, "net") and parse.dec(row.get("lever")):
                return parse.dec0(row.get("lever"))
        raise VenueError(f"OKX did not report the {side} leverage of {symbol}", venue=VENUE)

    async def change_margin(self, symbol: str, side: Side, amount: Decimal) -> MarginChange:
        await self._ensure_account_mode()
        self._trading(symbol)
        await self._write("margin change", POST, c.ADJUSTMENT_MARGIN, instId=symbol,
                          posSide=side.value, type="add" if amount > 0 else "reduce",
                          amt=parse.text(abs(amount)))
        inst = await self.instrument(symbol)
        rows = [r for r in await self._position_rows(symbol)
                if parse.position_side(r) is side and parse.dec0(r.get("pos")) != 0]
        if not rows:
            raise PositionNotFound(f"no {side} position in {symbol} after the margin change",
                                   code="59300", venue=VENUE)
        pos = parse.position_from(self.name, inst, rows[0])
        # The leverage the position really runs at now: notional at mark over its margin.
        real = notional(pos.size, pos.mark_price, inst) / pos.margin if pos.margin else pos.leverage
        return MarginChange(symbol=symbol, side=side, amount=amount, margin_after=pos.margin,
                            leverage_after=real)

    async def close(self) -> None:
        await self.unwatch()
        await self._site.leave()


def _accepted(request: OrderRequest) -> Order:
    return Order(client_id=request.client_id, venue_id="", symbol=request.symbol,
                 side=request.side, position_side=request.position_side, type=request.type,
                 size=request.size, price=request.price, reduce_only=request.reduce_only,
                 time_in_force=request.time_in_force, expire_at=request.expire_at,
                 state=OrderState.LIVE)
