"""What the fake Bitget server's routes share: Bitget's envelope and error codes, the
request context, number and time rendering, ids, and the conversion between the paper
engine's contracts and Bitget's sizes in base coin.

Bitget's v2 mix API answers `{"code":"00000","msg":"success","requestTime":ms,"data":..}`
and an error as `{"code":"40762","msg":"..","requestTime":..,"data":null}`, numbers as
strings. Its contracts are one coin each: a size is base coin, so an engine size of
`n` contracts of `contract_value` coin is `n x contract_value` on the wire, exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.domain import Instrument
from bot.venues import base
from bot.venues.paper.engine import PaperExchange
from tests.fakes.params import finite_decimal

SUCCESS = "00000"
USDT_FUTURES = "USDT-FUTURES"  # the only product type the paper venue lists
PRODUCT_TYPES = frozenset({USDT_FUTURES, "COIN-FUTURES", "USDC-FUTURES", "SUSDT-FUTURES",
                           "SCOIN-FUTURES", "SUSDC-FUTURES"})
HEDGE, ONE_WAY = "hedge_mode", "one_way_mode"

# code -> message as Bitget words it (its docs, SDKs and the answers ccxt quotes).
MESSAGES: dict[str, str] = {
    "429": "Too Many Requests",
    "22002": "No position to close",
    "40001": "ACCESS_KEY cannot be empty",
    "40003": "Signature cannot be empty",
    "40005": "Invalid ACCESS_TIMESTAMP",
    "40006": "Invalid ACCESS_KEY",
    "40009": "sign signature error",
    "40011": "ACCESS_PASSPHRASE cannot be empty",
    "40012": "apikey/password is incorrect",
    "40015": "System is abnormal, please try again later",
    "40017": "Parameter verification failed",
    "40019": "Parameter cannot be empty",
    "40020": "Parameter error",
    "40034": "Parameter does not exist",
    "40084": "You are in Classic Account mode, and the Unified Account API is not "
             "supported at this time",
    "40099": "exchange environment is incorrect",
    "40109": "The data of the order cannot be found, please confirm the order number",
    "40305": "Client_oid length is not greater than 50, and cannot be Martian characters",
    "40604": "Server is busy, please try again later",
    "40713": "Cannot exceed the maximum transferable margin amount",
    "40757": "Not enough position is available",
    "40762": "The order amount exceeds the balance",
    "40768": "Order does not exist",
    "40774": "The order type for unilateral position must also be the unilateral position "
             "type.",
    "40786": "Duplicate clientOid",
    "40797": "Exceeded the maximum settable leverage",
    "40808": "Parameter verification exception size checkBDScale error",
    "41103": "param price scale error error",
    "43012": "Insufficient balance",
    "45110": "less than the minimum amount 5 USDT",
}
_AUTH = frozenset({"40001", "40003", "40005", "40006", "40009", "40011", "40012", "40099"})
_SERVER = frozenset({"40015", "40604"})

# The paper engine speaks OKX's codes; what Bitget answers in the same situation.
FROM_ENGINE: dict[str, str] = {
    "50001": "40604", "50004": "40604", "50013": "40604", "50026": "40015",
    "50011": "429", "50061": "429",
    "51000": "40017", "51003": "40017", "51010": "40017", "51170": "40017",
    "51202": "40017",
    "51008": "40762", "51127": "40762", "51131": "40762", "59303": "43012",
    "51007": "45110", "51020": "45110",
    "51121": "40808",
    "51016": "40786",
    "51112": "40757",
    "51169": "22002", "51023": "22002", "59300": "22002",
    "51400": "40768", "51603": "40768",
    "59102": "40797", "59103": "40797", "59108": "40762",
    "59301": "40713", "59302": "40713",
}
# Engine errors whose code is in neither table, by their class.
_BY_KIND: dict[type[base.VenueError], str] = {
    base.InsufficientMargin: "40762", base.BelowMinimumSize: "45110",
    base.BadPrecision: "40808", base.OrderUnknown: "40768", base.RateLimited: "429",
    base.VenueUnavailable: "40604", base.PositionNotFound: "22002",
    base.AuthenticationFailed: "40012", base.LeverageRejected: "40797",
    base.MarginChangeRejected: "40713", base.UnknownInstrument: "40034",
}


def http_status(code: str) -> int:
    if code == SUCCESS:
        return 200
    if code == "429":
        return 429
    if code in _AUTH:
        return 401
    return 500 if code in _SERVER else 400


class BitgetFault(Exception):
    """A route's refusal, in Bitget's own code."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message or MESSAGES.get(code, "Operation failed")


def from_engine(exc: base.VenueError) -> BitgetFault:
    """The Bitget answer to an engine error. A test may inject Bitget's own code through
    the engine's faults (`reject_orders("40762")`): a known Bitget code passes as is."""
    code = exc.code or ""
    if code not in MESSAGES:
        code = FROM_ENGINE.get(code) or next(
            (c for kind, c in _BY_KIND.items() if isinstance(exc, kind)), "40017")
    return BitgetFault(code)


def missing(name: str) -> BitgetFault:
    return BitgetFault("40019", f"Parameter {name} cannot be empty")


def param_error(name: str) -> BitgetFault:
    return BitgetFault("40020", f"Parameter {name} error")


# -- rendering --------------------------------------------------------------------------


def num(value: Decimal | None) -> str:
    if value is None:
        return ""
    return "0" if value == 0 else format(value.normalize(), "f")  # never "-0"


def ms(moment: datetime | None) -> str:
    return "" if moment is None else str(int(moment.timestamp() * 1000))


def places(step: Decimal) -> int:
    """Decimal places of a step: 0.001 -> 3, 5 -> 0, 10 -> 0."""
    return max(0, -step.normalize().as_tuple().exponent)


# Bitget ids are 19-digit numbers; the engine's are 1, 2, 3...
_ORDER_IDS, _TRADE_IDS = 1_100_000_000_000_000_000, 1_200_000_000_000_000_000
_CLIENT_OIDS = 1_300_000_000_000_000_000


def order_id(venue_id: str) -> str:
    return str(_ORDER_IDS + int(venue_id))


def engine_order_id(given: str) -> str | None:
    """The engine's id of a Bitget orderId; None for one this server never gave."""
    if not given.isdigit() or not _ORDER_IDS < int(given) < _TRADE_IDS:
        return None
    return str(int(given) - _ORDER_IDS)


def trade_id(serial: int) -> str:
    """A fill's id from its place (1, 2, ...) in the account's fills."""
    return str(_TRADE_IDS + serial)


def client_oid(serial: int) -> str:
    """The clientOid Bitget makes up for an order sent without one."""
    return str(_CLIENT_OIDS + serial)


# -- sizes ------------------------------------------------------------------------------


def market_id(inst: Instrument) -> str:
    return f"{inst.base}{inst.quote}"


def coin(size: Decimal, inst: Instrument) -> Decimal:
    """An engine size (contracts) in Bitget's base coin."""
    return size * inst.contract_value


def coin_step(inst: Instrument) -> Decimal:
    """Bitget's sizeMultiplier: one lot in coin."""
    return inst.lot_size * inst.contract_value


def contracts(size: Decimal, inst: Instrument) -> Decimal:
    """An order size in coin as engine contracts; 40808 unless it is a whole number of
    lots (Bitget checks the size against sizeMultiplier and volumePlace)."""
    if size <= 0 or size % coin_step(inst) != 0:
        raise BitgetFault("40808", f"Parameter verification exception size checkBDScale "
                                   f"error value={num(size)} checkScale={places(coin_step(inst))}")
    return size / inst.contract_value


# -- one request ------------------------------------------------------------------------


@dataclass(slots=True)
class State:
    """What Bitget keeps and the engine does not: each account's position mode."""

    pos_modes: dict[str, str] = field(default_factory=dict)
    min_trade_usdt: Decimal = Decimal(5)

    def pos_mode(self, account: str) -> str:
        return self.pos_modes.get(account, HEDGE)


@dataclass(slots=True)
class Ctx:
    """One request as a route sees it: `fields` is the query (GET) or the JSON body."""

    exchange: PaperExchange
    account: str | None
    fields: Mapping[str, Any]
    state: State
    hang: Callable[[], Any] | None = None  # awaitable factory: never answer (a timeout)
    markets: dict[str, Instrument] = field(default_factory=dict)  # Bitget id -> instrument

    def get(self, name: str) -> str | None:
        value = self.fields.get(name)
        return None if value is None or value == "" else str(value)

    def need(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise missing(name)
        return value

    def number(self, name: str, *, required: bool = False) -> Decimal | None:
        value = self.need(name) if required else self.get(name)
        return None if value is None else finite_decimal(name, value, param_error)

    def usdt_futures(self) -> bool:
        """productType is required; False for a real type the paper venue does not list
        (its lists are empty), 40020 for no such type. Bitget accepts any case."""
        product = self.need("productType").upper()
        if product not in PRODUCT_TYPES:
            raise param_error("productType")
        return product == USDT_FUTURES

    def instrument(self) -> Instrument:
        """The symbol's instrument; productType must be given and be its type."""
        symbol = self.need("symbol").upper()
        inst = self.markets.get(symbol) if self.usdt_futures() else None
        if inst is None:
            raise BitgetFault("40034", f"Parameter {symbol} does not exist")
        return inst

    def margin_coin(self) -> None:
        if self.need("marginCoin").upper() != "USDT":
            raise param_error("marginCoin")

    @property
    def user(self) -> str:
        assert self.account is not None, "a private route without an account"
        return self.account

    @property
    def pos_mode(self) -> str:
        return self.state.pos_mode(self.user)


@dataclass(slots=True)
class Answer:
    data: Any
    code: str = SUCCESS
    msg: str = "success"

    @property
    def status(self) -> int:
        return http_status(self.code)

    def body(self, request_time: int) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg, "requestTime": request_time,
                "data": self.data}


def error_answer(fault: BitgetFault) -> Answer:
    return Answer(None, code=fault.code, msg=fault.message)
