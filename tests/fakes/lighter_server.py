"""A fake Lighter REST server on loopback, serving a `PaperExchange`, for contract tests
that run the UNMODIFIED lighter-sdk 1.1.8 (`SignerClient`, `OrderApi`, `AccountApi`)
against it.

    exchange = lighter_exchange({"BTC": Decimal("95000"), "ETH": Decimal("3000")})
    exchange.add_account("main", Decimal("10000"))
    async with FakeLighterServer(exchange, {7: "main"}, MARKETS) as lighter:
        SignerClient(url=lighter.base_url, account_index=7, api_private_keys={3: key})

What it imitates (venues.md section 3, "Lighter via lighter-sdk 1.1.8"): the endpoints the
SDK calls, their query parameters and JSON shapes; `sendTx` with its form fields and the
signed `tx_info` (the signature is not checked: nobody here holds Lighter's keys); one
expected nonce per (account, API key) and HTTP 400 `21104 invalid nonce` for any other;
sizes and prices as integers scaled by each market's decimals, and as decimal strings with
exactly those decimals on the way out (the SDK deletes the "." to get integers back).

The paper engine is OKX-shaped (hedge mode, isolated margin), Lighter is one-way; the
mapping: a reduce-only ask closes LONG, a reduce-only bid closes SHORT, any other ask
opens SHORT and any other bid opens LONG. Engine refusals come back as HTTP 200 with a
Lighter-like code (`ERROR_CODES` says which); such a refusal does not use up the nonce,
because the SDK gives the nonce back whenever `code != 200` (set
`rejection_consumes_nonce` to imitate a venue that keeps it).

Faults: the engine's own (reject, never fill, timeout after accept = the placement lands
and the caller never hears back, latency), plus `fail_next` (answer the next N requests
of a path with a given code) and `hold_next_send` (the next sendTx is never answered,
applied to the engine first or not at all).

Numbers on the way out: amounts of USDC with 6 decimals; order times `timestamp`,
`created_at`, `updated_at` in seconds, `transaction_time` in microseconds, `order_expiry`
and trade `timestamp` in milliseconds (apidocs.lighter.xyz "Timestamps"); trade
`taker_fee`/`maker_fee` are the fee RATES in parts per million (the engine's 0.0005 is
500), so a fill's fee is `usd_amount * rate / 10^6`; orderBookDetails' `taker_fee` and
`maker_fee` are percent strings ("0.0500").

The same port serves Lighter's websocket at `ws_url` + "/stream" (lighter_stream.py:
market_stats and account_all), with its own faults: `drop_streams()`,
`streams_down(True)`, and `ws_messages`, what clients sent (pings and pongs only counted).

Other choices: a client order index is accepted once per account (21728, as third-party
notes say Lighter does), so a resend after a timeout cannot place twice; an order below
the market's `min_quote_amount` (size x limit or worst price) is refused like one below
`min_base_amount`; the order book is the engine's synthetic liquidity (owned by
`BOOK_ACCOUNT_INDEX`; resting paper orders are not in it), and it is the other side of
every trade; the account lists a market with a leverage setting and no position as flat
(`position` zero, `sign` 0), and a hedge-mode market with both sides open twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from bot.domain import (
    ZERO,
    Fill,
    Instrument,
    Liquidity,
    Order,
    OrderRequest,
    OrderSide,
    OrderState,
    OrderType,
    Position,
    Side,
    TimeInForce,
)
from bot.venues.base import VenueError
from bot.venues.paper.engine import PaperExchange
from tests.fakes.lighter_stream import STREAM_PATH, LighterStreams, WsRecorded
from tests.fakes.loopback import LoopbackServer

log = logging.getLogger(__name__)

API = "/api/v1"
FIRST_NONCE = 1  # what nextNonce says for a key that has sent nothing yet
USDC_DECIMALS = 6
ORDER_INDEX_BASE = 2**48  # venue order indices start here; client order indices stay below
MAX_CLIENT_ORDER_INDEX = 2**48 - 1
BOOK_ACCOUNT_INDEX = 1_000_000  # who owns the synthetic liquidity of the paper book
BOOK_ORDER_BASE = 2**49  # order indices of the synthetic book levels
MAX_ACCOUNT_ORDERS = 20  # client order indexes one accountOrders call may ask for
MAX_LEVERAGE = Decimal(50)

# tx types the fake applies (lighter.signer_client numbers them the same way)
TX_CREATE_ORDER, TX_CANCEL_ORDER, TX_UPDATE_LEVERAGE, TX_UPDATE_MARGIN = 14, 15, 20, 29
ORDER_TYPE_LIMIT, ORDER_TYPE_MARKET = 0, 1
TIF_IOC, TIF_GTT, TIF_POST_ONLY = 0, 1, 2
ISOLATED_MARGIN = 1
MARGIN_REMOVE, MARGIN_ADD = 0, 1

# -- error codes ---------------------------------------------------------------------------
# 21104 (invalid nonce) and 21706 (below minimum amount) are from Lighter's published list,
# Lighter's published codes (apidocs.lighter.xyz, "Data Structures, Constants and Errors";
# bot/venues/lighter/codes.py has the table), so the adapter meets what the venue sends.
# ORDER_REJECTED is this fake's own: any other refusal of the paper engine.

CODE_OK = 200
INVALID_PARAM = 20001  # HTTP 400: a parameter is missing or malformed
AUTH_REQUIRED = 20001  # HTTP 400: auth query param and Authorization header are empty
ACCOUNT_NOT_FOUND = 21100  # HTTP 400
INVALID_NONCE = 21104  # HTTP 400: nothing applied
ORDER_REJECTED = 21799  # HTTP 200 from here on: not a Lighter code (see above)
INVALID_MARKET = 21602  # invalid market index
NOT_SUPPORTED = 21605  # order types, time in force or margin mode the paper engine lacks
NOT_ENOUGH_MARGIN = 21739  # not enough margin to create the order
NO_POSITION_TO_REDUCE = 21732  # reduce only increases position
REDUCE_ONLY_TOO_BIG = 21738  # invalid reduce only direction
BELOW_MIN_BASE = 21706  # invalid order base or quote amount
BELOW_MIN_QUOTE = 21706
INVALID_ORDER = 21702  # invalid price (also: size off the lot, bad expiry, bad index)
ORDER_NOT_FOUND = 21715  # given order is not an active order
INVALID_LEVERAGE = 21113  # invalid initial margin fraction
POSITION_NOT_FOUND = 21614  # no position found
MARGIN_REJECTED = 21133  # invalid risk change
DUPLICATE_CLIENT_INDEX = 21728  # client order index already exists

MESSAGES = {  # Lighter's own words for its codes
    INVALID_PARAM: "invalid param", ACCOUNT_NOT_FOUND: "account not found",
    INVALID_NONCE: "invalid nonce", ORDER_REJECTED: "order rejected",
    INVALID_MARKET: "invalid market index", NOT_SUPPORTED: "invalid market status",
    NOT_ENOUGH_MARGIN: "not enough margin to create the order",
    NO_POSITION_TO_REDUCE: "reduce only increases position",
    REDUCE_ONLY_TOO_BIG: "invalid reduce only direction",
    BELOW_MIN_BASE: "invalid order base or quote amount", INVALID_ORDER: "invalid price",
    ORDER_NOT_FOUND: "given order is not an active order",
    INVALID_LEVERAGE: "invalid initial margin fraction",
    POSITION_NOT_FOUND: "no position found", MARGIN_REJECTED: "invalid risk change",
    DUPLICATE_CLIENT_INDEX: "client order index already exists",
}

# The paper engine's (OKX) codes -> the Lighter-like code this server answers with.
ERROR_CODES = {
    "51001": INVALID_MARKET,
    "51008": NOT_ENOUGH_MARGIN, "51127": NOT_ENOUGH_MARGIN, "51131": NOT_ENOUGH_MARGIN,
    "59303": NOT_ENOUGH_MARGIN,
    "51169": NO_POSITION_TO_REDUCE, "51170": NO_POSITION_TO_REDUCE,
    "51112": REDUCE_ONLY_TOO_BIG,
    "51020": BELOW_MIN_BASE,
    "51000": INVALID_ORDER, "51121": INVALID_ORDER, "51202": INVALID_ORDER,
    "51603": ORDER_NOT_FOUND, "51400": ORDER_NOT_FOUND,
    "59102": INVALID_LEVERAGE, "59103": INVALID_LEVERAGE, "59107": INVALID_LEVERAGE,
    "59108": INVALID_LEVERAGE,
    "59300": POSITION_NOT_FOUND, "51023": POSITION_NOT_FOUND,
    "59301": MARGIN_REJECTED, "59302": MARGIN_REJECTED,
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CANDLE_RESOLUTIONS = ("1m", "5m", "15m", "1h")  # of Lighter's, those the engine draws
MAX_CANDLES = 500  # "at most 500 candles per call"
_TIME_IN_FORCE = {TIF_IOC: "immediate-or-cancel", TIF_GTT: "good-till-time",
                  TIF_POST_ONLY: "post-only"}


class LighterError(Exception):
    """A Lighter error answer: `{"code": code, "message": message}` at HTTP `status`."""

    def __init__(self, code: int, detail: str | None = None, *, status: int = 200) -> None:
        message = MESSAGES.get(code, "error")
        self.code = code
        self.message = f"{message}: {detail}" if detail else message
        self.status = status
        super().__init__(self.message)


def bad_param(name: str) -> LighterError:
    return LighterError(INVALID_PARAM, name, status=400)


def engine_rejection(exc: VenueError) -> LighterError:
    """An engine refusal in Lighter's words; the engine's own code stays in the message,
    so a test failure still says what the engine thought."""
    code = ERROR_CODES.get(exc.code or "", ORDER_REJECTED)
    return LighterError(code, f"{exc.message} (paper {exc.code})")


# -- markets and the paper exchange behind them ---------------------------------------------


@dataclass(frozen=True, slots=True)
class LighterMarket:
    """A perp market as orderBookDetails describes it; sizes are in base coin."""

    market_id: int
    symbol: str
    size_decimals: int
    price_decimals: int
    min_base_amount: str
    min_quote_amount: str

    def size(self, units: int) -> Decimal:
        return Decimal(units).scaleb(-self.size_decimals)

    def price(self, units: int) -> Decimal:
        return Decimal(units).scaleb(-self.price_decimals)

    def size_text(self, value: Decimal) -> str:
        return fixed(value, self.size_decimals)

    def price_text(self, value: Decimal | None) -> str:
        return fixed(value or ZERO, self.price_decimals)

    def quote_text(self, value: Decimal) -> str:
        """A size x price product: exact at size plus price decimals."""
        return fixed(value, self.size_decimals + self.price_decimals)


MARKETS: tuple[LighterMarket, ...] = (
    LighterMarket(1, "BTC", 5, 1, "0.00020", "10.000000"),
    LighterMarket(0, "ETH", 4, 2, "0.0050", "10.000000"),
)


def lighter_instrument(market: LighterMarket) -> Instrument:
    """The engine's view of a Lighter market: one contract is one coin."""
    return Instrument(symbol=market.symbol, base=market.symbol, contract_value=Decimal(1),
                      lot_size=Decimal(1).scaleb(-market.size_decimals),
                      min_size=Decimal(market.min_base_amount),
                      tick_size=Decimal(1).scaleb(-market.price_decimals),
                      max_leverage=MAX_LEVERAGE, quote="USDC")


def lighter_exchange(marks: Mapping[str, Decimal], *,
                     markets: Sequence[LighterMarket] = MARKETS,
                     **options: Any) -> PaperExchange:
    """A paper exchange trading `markets` (engine symbol = Lighter symbol); `options` go
    to `PaperExchange` (clock, fees, book_shape, seed)."""
    missing = [m.symbol for m in markets if m.symbol not in marks]
    if missing:
        raise ValueError(f"no mark for {', '.join(missing)}")
    return PaperExchange([lighter_instrument(m) for m in markets],
                         {m.symbol: marks[m.symbol] for m in markets}, **options)


# -- numbers and times on the wire ----------------------------------------------------------


def fixed(value: Decimal, places: int) -> str:
    """`value` with exactly `places` decimals, as Lighter prints amounts."""
    return f"{value.quantize(Decimal(1).scaleb(-places)):f}"


def usdc(value: Decimal) -> str:
    return fixed(value, USDC_DECIMALS)


def ppm(rate: Decimal) -> int:
    return int((rate * 10**6).to_integral_value())


def ms_of(moment: datetime | None) -> int:
    """Exact milliseconds since the epoch (integer arithmetic: no float round trip)."""
    return 0 if moment is None else (moment - _EPOCH) // timedelta(milliseconds=1)


def seconds_of(moment: datetime | None) -> int:
    return 0 if moment is None else (moment - _EPOCH) // timedelta(seconds=1)


def micros_of(moment: datetime | None) -> int:
    return 0 if moment is None else (moment - _EPOCH) // timedelta(microseconds=1)


def moment_of(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def order_index_of(venue_id: str) -> int:
    return ORDER_INDEX_BASE + int(venue_id)


def venue_id_of(order_index: int) -> str | None:
    return str(order_index - ORDER_INDEX_BASE) if order_index > ORDER_INDEX_BASE else None


def client_index_of(client_id: str) -> int:
    """Orders placed through this server carry str(ClientOrderIndex); others show 0."""
    return int(client_id) if client_id.isdigit() else 0


# -- what arrived, and what the engine does not keep -----------------------------------------


@dataclass(slots=True)
class Recorded:
    """One request as it arrived: for asserting what the SDK really sent."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    tx: dict[str, Any] | None  # the decoded tx_info of a sendTx
    headers: dict[str, str]

    @property
    def body(self) -> dict[str, str]:
        """The form fields under the name the OKX fake's records use."""
        return self.form


@dataclass(slots=True)
class OrderNote:
    """What Lighter keeps about an order and the paper engine does not."""

    nonce: int
    tx_hash: str
    time_in_force: str
    base_amount: int
    price: int
    height: int
    end_status: str | None = None  # why it was canceled, when this server knows


@dataclass(slots=True)
class _Failure:
    status: int
    code: int
    message: str
    remaining: int


@dataclass(slots=True)
class _Call:
    """One request as a route sees it."""

    query: dict[str, str]
    form: dict[str, str]
    headers: Mapping[str, str]
    record: Recorded

    def text(self, name: str, source: Mapping[str, str] | None = None) -> str | None:
        value = (self.query if source is None else source).get(name)
        return value if value else None

    def integer(self, name: str, *, default: int | None = None,
                source: Mapping[str, str] | None = None) -> int:
        value = self.text(name, source)
        if value is None:
            if default is None:
                raise bad_param(name)
            return default
        try:
            return int(value)
        except ValueError:
            raise bad_param(name) from None

    def optional_int(self, name: str) -> int | None:
        return None if self.text(name) is None else self.integer(name)

    def limit(self, most: int, default: int | None = None) -> int:
        limit = self.integer("limit", default=default)
        if not 1 <= limit <= most:
            raise bad_param("limit")
        return limit

    def authorize(self) -> str:
        """Private reads need an `authorization` header; any non-empty token passes."""
        token = self.headers.get("authorization", "")
        if not token:
            raise LighterError(AUTH_REQUIRED, status=400)
        return token


def tx_int(tx: Mapping[str, Any], name: str) -> int:
    value = tx.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_param(f"tx_info.{name}")
    return value


Route = Callable[[_Call], Awaitable[Any]]


class FakeLighterServer(LoopbackServer[Recorded]):
    """Lighter's REST endpoints over one paper exchange; see the module docstring."""

    def __init__(self, exchange: PaperExchange, accounts: Mapping[int, str],
                 markets: Sequence[LighterMarket] = MARKETS, *,
                 host: str = "127.0.0.1") -> None:
        """`accounts` maps a Lighter account index to the paper account it trades."""
        super().__init__(exchange, host)
        self.accounts = dict(accounts)
        self.markets = {m.market_id: m for m in markets}
        self.sent: list[dict[str, Any]] = []  # every decoded tx_info, with "tx_type"
        self.notes: dict[str, OrderNote] = {}  # engine venue id -> what Lighter keeps
        self.rejection_consumes_nonce = False
        self._nonces: dict[tuple[int, int], int] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._holds: list[bool] = []  # land flags of the next sendTx calls to hold
        self._height = 0  # block height: one block per applied transaction
        self._routes: dict[tuple[str, str], Route] = {
            ("GET", f"{API}/nextNonce"): self._next_nonce,
            ("POST", f"{API}/sendTx"): self._send_tx,
            ("GET", f"{API}/orderBookDetails"): self._order_book_details,
            ("GET", f"{API}/orderBookOrders"): self._order_book_orders,
            ("GET", f"{API}/candles"): self._candles,
            ("GET", f"{API}/account"): self._account,
            ("GET", f"{API}/accountActiveOrders"): self._active_orders,
            ("GET", f"{API}/accountInactiveOrders"): self._inactive_orders,
            ("GET", f"{API}/accountOrders"): self._orders_by_client_index,
            ("GET", f"{API}/trades"): self._trades,
        }
        self._tx_handlers: dict[int, Callable[[int, str, dict[str, Any], str], None]] = {
            TX_CREATE_ORDER: self._create_order,
            TX_CANCEL_ORDER: self._cancel_order,
            TX_UPDATE_LEVERAGE: self._update_leverage,
            TX_UPDATE_MARGIN: self._update_margin,
        }
        self._streams = LighterStreams(exchange, self, self.errors)

    # -- the websocket side (lighter_stream.py) -------------------------------------------

    @property
    def ws_url(self) -> str:
        """Scheme and host, as the config's `ws_url`: the stream is at its "/stream"."""
        return f"ws://{self.host}:{self.port}"

    @property
    def streams(self) -> LighterStreams:
        """Its knobs: `idle_push_seconds` (market_stats), `ping_seconds`, and counters
        `pings` (clients' own) and `pongs` (answers to the server's ping)."""
        return self._streams

    @property
    def ws_messages(self) -> list[WsRecorded]:
        return self._streams.messages

    def drop_streams(self) -> None:
        """Cut every open websocket like a network drop (no close frame: code 1006)."""
        self._streams.drop()

    def streams_down(self, down: bool) -> None:
        """While True, websocket upgrades get HTTP 503 and open connections are cut."""
        self._streams.set_down(down)

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self._streams.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self._streams.close()  # before the runner, which would wait on open sockets
        await super().__aexit__(exc_type, exc, tb)

    # -- test controls --------------------------------------------------------------------

    def fail_next(self, path: str, *, status: int, code: int, message: str,
                  times: int = 1) -> None:
        """Answer the next `times` requests of `path` ("/api/v1/sendTx" or "sendTx") with
        `{"code": code, "message": message}` at HTTP `status`; nothing is applied."""
        path = path if path.startswith("/") else f"{API}/{path}"
        self._failures.setdefault(path, []).append(_Failure(status, code, message, times))

    def hold_next_send(self, *, land: bool) -> None:
        """The next sendTx is never answered, so the client times out. `land`: the
        transaction is applied (nonce and engine) first; else nothing happens."""
        self._holds.append(land)

    def set_nonce(self, account_index: int, api_key_index: int, nonce: int) -> None:
        """Make the server expect `nonce` next from that key (as if another process had
        used it): the SDK's cached nonce is then wrong."""
        self._nonces[(account_index, api_key_index)] = nonce

    def nonce(self, account_index: int, api_key_index: int) -> int:
        return self._nonces.get((account_index, api_key_index), FIRST_NONCE)

    def requests_to(self, path: str) -> list[Recorded]:
        path = path if path.startswith("/") else f"{API}/{path}"
        return [r for r in self.requests if r.path == path]

    # -- one request ----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == STREAM_PATH:
            return await self._streams.handle(request)
        query = dict(request.query)
        form = ({k: str(v) for k, v in (await request.post()).items()}
                if request.method == "POST" else {})
        record = Recorded(request.method, request.path, query, form, None,
                          dict(request.headers))
        self.requests.append(record)
        await self._latency()
        failure = self._take_failure(request.path)
        if failure is not None:
            return _reply({"code": failure.code, "message": failure.message}, failure.status)
        route = self._routes.get((request.method, request.path))
        if route is None:
            return _reply({"code": 404, "message": "no such endpoint"}, 404)
        try:
            answer = await route(_Call(query, form, request.headers, record))
        except LighterError as exc:
            return _reply({"code": exc.code, "message": exc.message}, exc.status)
        except Exception as exc:  # a bug in the fake: the test should hear about it
            log.exception("fake_lighter_route_failed path=%s", request.path)
            self.errors.append(exc)
            return _reply({"code": 500, "message": f"fake server bug: {exc!r}"}, 500)
        if isinstance(answer, web.StreamResponse):
            return answer
        return _reply({"code": CODE_OK, **answer})

    def _take_failure(self, path: str) -> _Failure | None:
        queue = self._failures.get(path)
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.pop(0)
        return failure

    # -- lookups --------------------------------------------------------------------------

    def _paper_account(self, account_index: int) -> str:
        name = self.accounts.get(account_index)
        if name is None:
            raise LighterError(ACCOUNT_NOT_FOUND, str(account_index), status=400)
        return name

    def _market(self, market_id: int) -> LighterMarket:
        market = self.markets.get(market_id)
        if market is None or market.symbol not in self.exchange.instruments:
            raise LighterError(INVALID_MARKET, str(market_id))
        return market

    def _query_market(self, call: _Call) -> LighterMarket | None:
        """The optional `market_id` of a read; an unknown one is a bad parameter."""
        market_id = call.optional_int("market_id")
        if market_id is None:
            return None
        if market_id not in self.markets:
            raise bad_param("market_id")
        return self.markets[market_id]

    def _market_of(self, symbol: str) -> LighterMarket:
        for market in self.markets.values():
            if market.symbol == symbol:
                return market
        raise LighterError(INVALID_MARKET, f"{symbol} is not among this server's markets")

    # -- nonces and transactions ----------------------------------------------------------

    async def _next_nonce(self, call: _Call) -> dict[str, Any]:
        account_index = call.integer("account_index")
        self._paper_account(account_index)
        return {"nonce": self.nonce(account_index, call.integer("api_key_index"))}

    async def _send_tx(self, call: _Call) -> Any:
        tx_type = call.integer("tx_type", source=call.form)
        tx = _decode_tx(call.form.get("tx_info", ""))
        call.record.tx = tx
        self.sent.append({**tx, "tx_type": tx_type})
        tx_hash = hashlib.sha256(call.form["tx_info"].encode()).hexdigest()
        if self._holds:
            return await self._held_send(self._holds.pop(0), tx_type, tx, tx_hash)
        answer = self._apply(tx_type, tx, tx_hash)
        account = self.accounts[tx["AccountIndex"]]
        if tx_type == TX_CREATE_ORDER and self.exchange.faults.take_timeout(account):
            await self._hang()  # placed, but the caller never hears back
        return answer

    async def _held_send(self, land: bool, tx_type: int, tx: dict[str, Any],
                         tx_hash: str) -> web.StreamResponse:
        if land:
            with contextlib.suppress(LighterError):
                self._apply(tx_type, tx, tx_hash)
        await self._hang()
        return web.Response(status=504)  # only after close: nobody is listening any more

    def _apply(self, tx_type: int, tx: dict[str, Any], tx_hash: str) -> dict[str, Any]:
        """Check the nonce, apply the transaction to the engine, move the nonce on."""
        handler = self._tx_handlers.get(tx_type)
        if handler is None:
            raise bad_param(f"tx_type {tx_type} (not served by the fake)")
        account_index = tx_int(tx, "AccountIndex")
        key = (account_index, tx_int(tx, "ApiKeyIndex"))
        account = self._paper_account(account_index)
        expected = self.nonce(*key)
        if tx_int(tx, "Nonce") != expected:
            raise LighterError(INVALID_NONCE, status=400)
        try:
            handler(account_index, account, tx, tx_hash)
        except VenueError as exc:
            self._nonces[key] = expected + int(self.rejection_consumes_nonce)
            raise engine_rejection(exc) from None
        except LighterError as exc:
            if exc.status == 200:
                self._nonces[key] = expected + int(self.rejection_consumes_nonce)
            raise
        self._nonces[key] = expected + 1
        self._height += 1
        now_ms = ms_of(self.exchange.clock())
        return {"message": json.dumps({"ratelimit": "didn't use volume quota"}),
                "tx_hash": tx_hash, "predicted_execution_time_ms": now_ms + 200,
                "volume_quota_remaining": 10_000}

    def _create_order(self, account_index: int, account: str, tx: dict[str, Any],
                      tx_hash: str) -> None:
        market = self._market(tx_int(tx, "MarketIndex"))
        client_index = tx_int(tx, "ClientOrderIndex")
        if not 1 <= client_index <= MAX_CLIENT_ORDER_INDEX:
            raise LighterError(INVALID_ORDER, "ClientOrderIndex out of range")
        client_id = str(client_index)
        if (account, client_id) in self.exchange.client_ids:
            raise LighterError(DUPLICATE_CLIENT_INDEX, client_id)
        request, time_in_force = order_request(market, tx, client_id)
        quote = request.size * (request.price or ZERO)
        if quote < Decimal(market.min_quote_amount):
            raise LighterError(BELOW_MIN_QUOTE, f"{quote} < {market.min_quote_amount}")
        order = self.exchange.place_order(account, request)
        note = OrderNote(tx_int(tx, "Nonce"), tx_hash, time_in_force,
                         tx_int(tx, "BaseAmount"), tx_int(tx, "Price"), self._height + 1)
        if order.state is OrderState.CANCELED:  # an IOC or market order's unfilled rest
            note.end_status = self._immediate_end(order)
        self.notes[order.venue_id] = note

    def _immediate_end(self, order: Order) -> str:
        """Why an immediate order ended unfilled: liquidity left beyond its worst price
        means the price stopped it; an empty side means there was not enough."""
        book = self.exchange.order_book(order.symbol, 1)
        if book.opposite_levels(order.side):
            return "canceled-too-much-slippage"
        return "canceled-not-enough-liquidity"

    def _cancel_order(self, account_index: int, account: str, tx: dict[str, Any],
                      tx_hash: str) -> None:
        market = self._market(tx_int(tx, "MarketIndex"))
        venue_id = venue_id_of(tx_int(tx, "Index"))
        if venue_id is None:
            raise LighterError(ORDER_NOT_FOUND, f"Index {tx['Index']} is no order index")
        order = self.exchange.get_order(account, venue_id=venue_id)
        if order.symbol != market.symbol:
            raise LighterError(ORDER_NOT_FOUND, f"order {tx['Index']} is in another market")
        self.exchange.cancel_order(account, venue_id=venue_id)
        note = self.notes.get(venue_id)
        if note is not None:
            note.end_status = "canceled"

    def _update_leverage(self, account_index: int, account: str, tx: dict[str, Any],
                         tx_hash: str) -> None:
        """Lighter has one leverage per market; the hedge-mode engine gets it per side,
        both set, or neither (the first is put back if the second is refused)."""
        market = self._market(tx_int(tx, "MarketIndex"))
        if tx_int(tx, "MarginMode") != ISOLATED_MARGIN:
            raise LighterError(NOT_SUPPORTED, "cross margin (the paper engine is isolated)")
        fraction = tx_int(tx, "InitialMarginFraction")
        if fraction <= 0:
            raise LighterError(INVALID_LEVERAGE, f"InitialMarginFraction {fraction}")
        leverage = Decimal(10_000) / Decimal(fraction)
        before = self.exchange.account(account).leverage_for(market.symbol, Side.LONG)
        self.exchange.set_leverage(account, market.symbol, Side.LONG, leverage)
        try:
            self.exchange.set_leverage(account, market.symbol, Side.SHORT, leverage)
        except VenueError:
            self.exchange.set_leverage(account, market.symbol, Side.LONG, before)
            raise

    def _update_margin(self, account_index: int, account: str, tx: dict[str, Any],
                       tx_hash: str) -> None:
        market = self._market(tx_int(tx, "MarketIndex"))
        amount = Decimal(tx_int(tx, "USDCAmount")).scaleb(-USDC_DECIMALS)
        direction = tx_int(tx, "Direction")
        if direction not in (MARGIN_ADD, MARGIN_REMOVE):
            raise bad_param("tx_info.Direction")
        side = self._only_side(account, market.symbol)
        self.exchange.change_margin(account, market.symbol, side,
                                    amount if direction == MARGIN_ADD else -amount)

    def _only_side(self, account: str, symbol: str) -> Side:
        """The one position a one-way venue would have in the market."""
        sides = [p.side for p in self.exchange.positions(account) if p.symbol == symbol]
        if len(sides) != 1:
            detail = "none open" if not sides else "long and short both open"
            raise LighterError(POSITION_NOT_FOUND, f"{symbol}: {detail}")
        return sides[0]

    # -- market reads ---------------------------------------------------------------------

    async def _order_book_details(self, call: _Call) -> dict[str, Any]:
        wanted = self._query_market(call)
        kind = call.text("filter") or "all"
        markets = [] if kind == "spot" else [
            m for m in self.markets.values()
            if wanted in (None, m) and m.symbol in self.exchange.instruments]
        return {"order_book_details": [self._market_row(m) for m in markets],
                "spot_order_book_details": []}

    def _market_row(self, market: LighterMarket) -> dict[str, Any]:
        inst = self.exchange.instruments[market.symbol]
        mark = self.exchange.market.mark(market.symbol)
        min_fraction = int(Decimal(10_000) / inst.max_leverage)
        fees = self.exchange.fees
        return {
            "symbol": market.symbol, "market_id": market.market_id, "market_type": "perp",
            "status": "active", "taker_fee": fixed(fees.taker * 100, 4),
            "maker_fee": fixed(fees.maker * 100, 4), "liquidation_fee": "1.0000",
            "min_base_amount": market.min_base_amount,
            "min_quote_amount": market.min_quote_amount,
            "supported_size_decimals": market.size_decimals,
            "supported_price_decimals": market.price_decimals,
            "supported_quote_decimals": USDC_DECIMALS,
            "size_decimals": market.size_decimals, "price_decimals": market.price_decimals,
            "quote_multiplier": 1, "default_initial_margin_fraction": 1000,  # 10x
            "min_initial_margin_fraction": min_fraction,
            "maintenance_margin_fraction": min_fraction * 6 // 10,
            "closeout_margin_fraction": min_fraction * 4 // 10,
            "last_trade_price": float(mark), "mark_price": market.price_text(mark),
            "index_price": market.price_text(mark), "open_interest": 0,
            "daily_trades_count": 0, "daily_base_token_volume": 0,
            "daily_quote_token_volume": 0, "daily_price_low": float(mark),
            "daily_price_high": float(mark), "daily_price_change": 0, "daily_chart": {},
        }

    async def _order_book_orders(self, call: _Call) -> dict[str, Any]:
        market = self._query_market(call)
        if market is None:
            raise bad_param("market_id")
        book = self.exchange.order_book(market.symbol, call.limit(250))
        now = self.exchange.clock()

        def level(price: Decimal, size: Decimal, index: int) -> dict[str, Any]:
            return {"order_index": index, "order_id": str(index),
                    "owner_account_index": BOOK_ACCOUNT_INDEX,
                    "initial_base_amount": market.size_text(size),
                    "remaining_base_amount": market.size_text(size),
                    "price": market.price_text(price), "order_expiry": 0,
                    "transaction_time": micros_of(now)}

        asks = [level(lv.price, lv.size, BOOK_ORDER_BASE + n) for n, lv in enumerate(book.asks)]
        bids = [level(lv.price, lv.size, BOOK_ORDER_BASE + 2**20 + n)
                for n, lv in enumerate(book.bids)]
        return {"total_asks": len(asks), "asks": asks, "total_bids": len(bids), "bids": bids}

    async def _candles(self, call: _Call) -> dict[str, Any]:
        """The engine's candles whose open is within [start_timestamp, end_timestamp] (ms),
        the newest `count_back` of them, oldest first; prices as JSON numbers, as Lighter
        sends them (the SDK's model takes floats)."""
        market = self._query_market(call)
        resolution = call.text("resolution")
        if market is None or resolution not in CANDLE_RESOLUTIONS:
            raise bad_param("market_id" if market is None else "resolution")
        start, end = call.integer("start_timestamp"), call.integer("end_timestamp")
        count = call.integer("count_back")
        if not 0 < count <= MAX_CANDLES:
            raise bad_param("count_back")
        inside = [c for c in self.exchange.candles(market.symbol, resolution, MAX_CANDLES)
                  if start <= ms_of(c.time) <= end]
        return {"r": resolution, "c": [
            {"t": ms_of(c.time), "o": float(c.open), "h": float(c.high), "l": float(c.low),
             "c": float(c.close), "v": 0, "V": 0, "i": 0} for c in inside[-count:]]}

    # -- account reads --------------------------------------------------------------------

    async def _account(self, call: _Call) -> dict[str, Any]:
        if call.text("by") != "index":
            raise bad_param("by (the fake serves by=index)")
        account_index = call.integer("value")
        account = self._paper_account(account_index)
        return {"total": 1, "accounts": [self._account_row(account_index, account)],
                "next_cursor": ""}

    def _account_row(self, account_index: int, account: str) -> dict[str, Any]:
        """Isolated margin only: collateral = cash + the positions' margins, total asset
        value = that plus unrealized PnL, cross asset value = cash outside positions."""
        acct = self.exchange.account(account)
        positions = self.exchange.positions(account)
        balance = self.exchange.balance(account)
        open_orders = self.exchange.open_orders(account)
        rows = [self._position_row(p, open_orders) for p in positions]
        rows += self._flat_rows(account, {p.symbol for p in positions})
        collateral = acct.cash + sum((p.margin for p in positions), ZERO)
        return {
            "code": 0, "account_type": 0, "index": account_index,
            "account_index": account_index, "l1_address": "", "name": account,
            "description": "", "status": 1, "cancel_all_time": 0,
            "total_order_count": len(open_orders), "total_isolated_order_count": len(open_orders),
            "pending_order_count": 0, "available_balance": usdc(balance.free),
            "collateral": usdc(collateral), "total_asset_value": usdc(balance.equity),
            "cross_asset_value": usdc(acct.cash), "positions": rows, "assets": [],
            "shares": [], "created_at": 0, "transaction_time": micros_of(self.exchange.clock()),
        }

    def _position_row(self, position: Position, open_orders: list[Order]) -> dict[str, Any]:
        market = self._market_of(position.symbol)
        mine = [o for o in open_orders if o.symbol == position.symbol]
        return {
            "market_id": market.market_id, "symbol": market.symbol,
            "initial_margin_fraction": fixed(Decimal(100) / position.leverage, 2),
            "open_order_count": len(mine), "pending_order_count": 0,
            "position_tied_order_count": sum(1 for o in mine if o.reduce_only),
            "sign": 1 if position.side is Side.LONG else -1,
            "position": market.size_text(position.size),
            "avg_entry_price": fixed(position.entry_price, max(market.price_decimals, 6)),
            "position_value": usdc(position.size * position.mark_price),
            "unrealized_pnl": usdc(position.unrealized_pnl), "realized_pnl": usdc(ZERO),
            "liquidation_price": market.price_text(self._liquidation_price(market, position)),
            "total_funding_paid_out": usdc(ZERO), "margin_mode": ISOLATED_MARGIN,
            "allocated_margin": usdc(position.margin), "total_discount": usdc(ZERO),
            "margin_set_flag": 0,
        }

    def _liquidation_price(self, market: LighterMarket, position: Position) -> Decimal:
        """Where the isolated margin plus PnL meets the maintenance margin."""
        inst = self.exchange.instruments[market.symbol]
        mmf = Decimal(int(Decimal(10_000) / inst.max_leverage) * 6 // 10) / 10_000
        cost = position.entry_price * position.size
        if position.side is Side.LONG:
            price = (cost - position.margin) / (position.size * (1 - mmf))
        else:
            price = (cost + position.margin) / (position.size * (1 + mmf))
        return max(price, ZERO)

    def _flat_rows(self, account: str, held: set[str]) -> list[dict[str, Any]]:
        """Markets with a leverage setting and no position, listed flat (sign 0), so the
        leverage can be read back before a position exists."""
        acct = self.exchange.account(account)
        symbols = sorted({s for s, _ in acct.leverage} - held)
        return [{"market_id": self._market_of(s).market_id, "symbol": s,
                 "initial_margin_fraction": fixed(
                     Decimal(100) / acct.leverage_for(s, Side.LONG), 2),
                 "open_order_count": 0, "pending_order_count": 0,
                 "position_tied_order_count": 0, "sign": 0,
                 "position": self._market_of(s).size_text(ZERO),
                 "avg_entry_price": "0", "position_value": usdc(ZERO),
                 "unrealized_pnl": usdc(ZERO), "realized_pnl": usdc(ZERO),
                 "liquidation_price": "0", "margin_mode": ISOLATED_MARGIN,
                 "allocated_margin": usdc(ZERO), "total_discount": usdc(ZERO),
                 "margin_set_flag": 0}
                for s in symbols if any(m.symbol == s for m in self.markets.values())]

    async def _active_orders(self, call: _Call) -> dict[str, Any]:
        call.authorize()
        account_index = call.integer("account_index")
        account = self._paper_account(account_index)
        market = self._query_market(call)
        orders = self.exchange.open_orders(account, market.symbol if market else None)
        return {"orders": [self._order_row(o, account_index) for o in orders]}

    async def _inactive_orders(self, call: _Call) -> dict[str, Any]:
        """Finished orders, newest first."""
        call.authorize()
        account_index = call.integer("account_index")
        account = self._paper_account(account_index)
        limit, market = call.limit(100), self._query_market(call)
        ask_filter = call.optional_int("ask_filter")
        self.exchange.expire_due()
        orders = [o.to_order() for o in self.exchange.orders.values()
                  if o.account == account and o.state.is_final
                  and market in (None, self._market_of(o.symbol))
                  and ask_filter in (None, int(o.side is OrderSide.SELL))]
        orders.sort(key=lambda o: (o.updated_at or _EPOCH, int(o.venue_id)), reverse=True)
        return {"orders": [self._order_row(o, account_index) for o in orders[:limit]]}

    async def _orders_by_client_index(self, call: _Call) -> dict[str, Any]:
        """Orders by client order index, in the order asked; unknown ones are left out.
        Without `account_index` the account is the one the auth token names."""
        token = call.authorize()
        account_index = call.optional_int("account_index")
        if account_index is None:
            account_index = _token_account(token)
        account = self._paper_account(account_index)
        wanted = [part.strip() for part in (call.text("client_order_indexes") or "").split(",")
                  if part.strip()]
        if not wanted or len(wanted) > MAX_ACCOUNT_ORDERS or not all(
                w.isdigit() for w in wanted):
            raise bad_param("client_order_indexes")
        orders = []
        for client_id in wanted:
            venue_id = self.exchange.client_ids.get((account, str(int(client_id))))
            if venue_id is not None:
                orders.append(self.exchange.get_order(account, venue_id=venue_id))
        return {"orders": [self._order_row(o, account_index) for o in orders]}

    def _order_row(self, order: Order, owner: int) -> dict[str, Any]:
        market = self._market_of(order.symbol)
        note = self.notes.get(order.venue_id)
        index, client_index = order_index_of(order.venue_id), client_index_of(order.client_id)
        filled_quote = (order.average_price or ZERO) * order.filled_size
        is_ask = order.side is OrderSide.SELL
        return {
            "order_index": index, "order_id": str(index),
            "client_order_index": client_index, "client_order_id": str(client_index),
            "market_index": market.market_id, "market_symbol": market.symbol,
            "market_kind": "perp", "owner_account_index": owner,
            "initial_base_amount": market.size_text(order.size),
            "remaining_base_amount": market.size_text(order.unfilled_size),
            "filled_base_amount": market.size_text(order.filled_size),
            "filled_quote_amount": market.quote_text(filled_quote),
            "price": market.price_text(order.price),
            "base_size": note.base_amount if note else 0,
            "base_price": note.price if note else 0, "nonce": note.nonce if note else 0,
            "is_ask": is_ask, "side": "sell" if is_ask else "buy",
            "type": "market" if order.type is OrderType.MARKET else "limit",
            "time_in_force": note.time_in_force if note else _engine_tif(order),
            "reduce_only": order.reduce_only, "trigger_price": market.price_text(ZERO),
            "order_expiry": ms_of(order.expire_at), "status": order_status(order, note),
            "trigger_status": "na", "trigger_time": 0, "parent_order_index": 0,
            "parent_order_id": "0", "to_trigger_order_id_0": "0",
            "to_trigger_order_id_1": "0", "to_cancel_order_id_0": "0",
            "block_height": note.height if note else 0,
            "timestamp": seconds_of(order.updated_at),
            "created_at": seconds_of(order.created_at),
            "updated_at": seconds_of(order.updated_at),
            "transaction_time": micros_of(order.created_at),
            "order_flags": 0, "order_version": 0,
        }

    async def _trades(self, call: _Call) -> dict[str, Any]:
        """The account's fills as Lighter trades (the other side is the paper book),
        newest first unless sort_dir=asc."""
        call.authorize()
        account_index = call.optional_int("account_index")
        if account_index is None:
            raise bad_param("account_index (the fake serves an account's own trades)")
        account = self._paper_account(account_index)
        limit, market = call.limit(100, default=100), self._query_market(call)
        order_index = call.optional_int("order_index")
        venue_id = venue_id_of(order_index) if order_index is not None else None
        if order_index is not None and venue_id is None:
            return {"trades": []}
        fills = self.exchange.account_fills(account, market.symbol if market else None,
                                            venue_id=venue_id)
        if call.text("sort_dir") != "asc":
            fills = list(reversed(fills))
        return {"trades": [self._trade_row(f, account_index) for f in fills[:limit]]}

    def _trade_row(self, fill: Fill, account_index: int) -> dict[str, Any]:
        market = self._market_of(fill.symbol)
        note = self.notes.get(fill.order_venue_id)
        mine = {"id": order_index_of(fill.order_venue_id),
                "client_id": client_index_of(fill.client_id), "account_id": account_index,
                "pnl": usdc(fill.realized_pnl)}
        book = {"id": 0, "client_id": 0, "account_id": BOOK_ACCOUNT_INDEX, "pnl": usdc(ZERO)}
        is_ask = fill.side is OrderSide.SELL
        ask, bid = (mine, book) if is_ask else (book, mine)
        maker_is_me = fill.liquidity is Liquidity.MAKER
        trade_id = (int(fill.order_venue_id) << 32) | int(fill.trade_id.rsplit("-", 1)[1])
        return {
            "trade_id": trade_id, "trade_id_str": str(trade_id),
            "tx_hash": note.tx_hash if note else "", "type": "trade",
            "market_id": market.market_id, "market_symbol": market.symbol,
            "size": market.size_text(fill.size), "price": market.price_text(fill.price),
            "usd_amount": usdc(fill.size * fill.price),
            "ask_id": ask["id"], "bid_id": bid["id"],
            "ask_id_str": str(ask["id"]), "bid_id_str": str(bid["id"]),
            "ask_client_id": ask["client_id"], "bid_client_id": bid["client_id"],
            "ask_client_id_str": str(ask["client_id"]),
            "bid_client_id_str": str(bid["client_id"]),
            "ask_account_id": ask["account_id"], "bid_account_id": bid["account_id"],
            "ask_account_pnl": ask["pnl"], "bid_account_pnl": bid["pnl"],
            "is_maker_ask": is_ask == maker_is_me,
            "taker_fee": ppm(self.exchange.fees.taker),
            "maker_fee": ppm(self.exchange.fees.maker),
            "block_height": note.height if note else 0, "timestamp": ms_of(fill.time),
            "transaction_time": micros_of(fill.time),
        }


# -- pure helpers ----------------------------------------------------------------------------


def _reply(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


def _decode_tx(raw: str) -> dict[str, Any]:
    try:
        tx = json.loads(raw)
    except ValueError:
        raise bad_param("tx_info") from None
    if not isinstance(tx, dict):
        raise bad_param("tx_info")
    return tx


def _token_account(token: str) -> int:
    """The account an auth token names: "{expiry}:{account_index}:{api_key_index}:{hex}"."""
    parts = token.split(":")
    if len(parts) != 4 or not parts[1].isdigit():
        raise bad_param("account_index")
    return int(parts[1])


def order_request(market: LighterMarket, tx: Mapping[str, Any],
                  client_id: str) -> tuple[OrderRequest, str]:
    """A create-order tx as the engine's request, and Lighter's time-in-force name."""
    is_ask, reduce_only = tx_int(tx, "IsAsk") == 1, tx_int(tx, "ReduceOnly") == 1
    if reduce_only:
        position_side = Side.LONG if is_ask else Side.SHORT
    else:
        position_side = Side.SHORT if is_ask else Side.LONG
    order_type, tif, expire_at, tif_name = _order_kind(tx)
    request = OrderRequest(
        client_id=client_id, symbol=market.symbol,
        side=OrderSide.SELL if is_ask else OrderSide.BUY, position_side=position_side,
        type=order_type, size=market.size(tx_int(tx, "BaseAmount")),
        price=market.price(tx_int(tx, "Price")), reduce_only=reduce_only,
        time_in_force=tif, expire_at=expire_at)
    return request, tif_name


def _order_kind(tx: Mapping[str, Any]
                ) -> tuple[OrderType, TimeInForce, datetime | None, str]:
    """Type and TimeInForce as the engine knows them. A market order is immediate with a
    worst price; post-only is served as a plain resting limit order (the engine has no
    maker-only check), good till its OrderExpiry like good-till-time."""
    kind, tif = tx_int(tx, "Type"), tx_int(tx, "TimeInForce")
    if tif not in _TIME_IN_FORCE:
        raise LighterError(NOT_SUPPORTED, f"TimeInForce {tif}")
    if kind == ORDER_TYPE_MARKET:
        return OrderType.MARKET, TimeInForce.IOC, None, _TIME_IN_FORCE[TIF_IOC]
    if kind != ORDER_TYPE_LIMIT:
        raise LighterError(NOT_SUPPORTED, f"order Type {kind}")
    if tif == TIF_IOC:
        return OrderType.LIMIT, TimeInForce.IOC, None, _TIME_IN_FORCE[tif]
    expiry = tx_int(tx, "OrderExpiry")
    if expiry <= 0:
        raise LighterError(INVALID_ORDER, f"OrderExpiry {expiry}")
    return OrderType.LIMIT, TimeInForce.GTT, moment_of(expiry), _TIME_IN_FORCE[tif]


def _engine_tif(order: Order) -> str:
    if order.time_in_force is TimeInForce.IOC:
        return _TIME_IN_FORCE[TIF_IOC]
    return _TIME_IN_FORCE[TIF_GTT]


def order_status(order: Order, note: OrderNote | None) -> str:
    """Lighter's status words. A cancel this server did not see is the engine's: a close
    order that went with its position (reduce-only), else a plain cancel."""
    if not order.state.is_final:
        return "open"
    if order.state is OrderState.FILLED:
        return "filled"
    if order.state is OrderState.EXPIRED:
        return "canceled-expired"
    if note is not None and note.end_status is not None:
        return note.end_status
    return "canceled-reduce-only" if order.reduce_only else "canceled"
