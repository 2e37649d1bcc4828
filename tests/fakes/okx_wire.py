"""What the fake OKX server's routes share: the request context, the OKX envelope, number
and time rendering, and which HTTP status OKX pairs with an error code.

OKX sends numbers as strings and `""` for a missing value; python-okx POSTs every SDK
default (`""`, `null`) in the body, so those count as "not given" here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.domain import Side
from bot.venues.base import VenueError
from bot.venues.okx.codes import okx_error, okx_message
from bot.venues.paper.engine import PaperExchange
from tests.fakes.params import finite_decimal

# HTTP statuses OKX documents for these codes; every other answer is HTTP 200.
HTTP_STATUS = {"50001": 503, "50004": 400, "50011": 429, "50013": 429, "50014": 400,
               "50026": 500, "50061": 429, "51000": 400}


def http_status(code: str) -> int:
    if code.startswith("501") and len(code) == 5:
        return 401
    return HTTP_STATUS.get(code, 200)


def given(value: Any) -> bool:
    return value is not None and value != ""


def clean(value: Any) -> Any:
    """A JSON body with python-okx's `""`/null defaults dropped (per item for arrays)."""
    if isinstance(value, list):
        return [clean(item) for item in value]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if given(v)}
    return value


def num(value: Decimal | None) -> str:
    if value is None:
        return ""
    return format(value.normalize(), "f")


def ms(moment: datetime | None) -> str:
    return "" if moment is None else str(int(moment.timestamp() * 1000))


def param_error(name: str) -> VenueError:
    return okx_error("51000", f"Parameter {name} error")


def missing(name: str) -> VenueError:
    return okx_error("50014", f"Parameter {name} can not be empty")


@dataclass(slots=True)
class OrderNotes:
    """What OKX keeps about an order and the engine does not."""

    tags: dict[tuple[str, str], str] = field(default_factory=dict)  # (account, ordId) -> tag
    # (account, client id) ids the server made up for orders sent without a clOrdId
    anonymous: set[tuple[str, str]] = field(default_factory=set)

    def client_id(self, account: str, client_id: str) -> str:
        return "" if (account, client_id) in self.anonymous else client_id


@dataclass(slots=True)
class Ctx:
    """One request as a route sees it. `fields` is the query (GET) or the JSON object body
    (POST); an array body is in `items`."""

    exchange: PaperExchange
    account: str | None
    fields: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)
    notes: OrderNotes = field(default_factory=OrderNotes)
    hang: Callable[[], Any] | None = None  # awaitable factory: never answer (a timeout)

    def get(self, name: str, *, required: bool = False, source: Mapping[str, Any] | None = None
            ) -> str | None:
        value = (self.fields if source is None else source).get(name)
        if not given(value):
            if required:
                raise missing(name)
            return None
        return str(value)

    def need(self, name: str, source: Mapping[str, Any] | None = None) -> str:
        value = self.get(name, required=True, source=source)
        assert value is not None
        return value

    def number(self, name: str, *, required: bool = False,
               source: Mapping[str, Any] | None = None) -> Decimal | None:
        value = self.get(name, required=required, source=source)
        return None if value is None else finite_decimal(name, value, param_error)

    def side(self, name: str = "posSide", source: Mapping[str, Any] | None = None) -> Side:
        value = self.need(name, source)
        if value not in ("long", "short"):
            # The paper venue runs in long/short mode: "net" has no meaning there.
            raise param_error(name)
        return Side(value)

    @property
    def user(self) -> str:
        assert self.account is not None, "a private route without an account"
        return self.account


@dataclass(slots=True)
class Answer:
    data: list[Any]
    code: str = "0"
    msg: str = ""

    @property
    def status(self) -> int:
        return http_status(self.code)

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg, "data": self.data}


def error_answer(exc: VenueError) -> Answer:
    code = exc.code or "50026"
    return Answer([], code=code, msg=exc.message or okx_message(code))


def item_error(exc: VenueError, **ids: str) -> dict[str, Any]:
    code = exc.code or "51000"
    return {**ids, "sCode": code, "sMsg": exc.message or okx_message(code)}


def items_answer(items: list[dict[str, Any]]) -> Answer:
    """Per-item results: top-level "0" when all succeeded, "1" when all failed, "2" when
    only some did (OKX's batch semantics, used for single orders too)."""
    failed = sum(1 for item in items if item.get("sCode") not in ("0", None))
    if failed == 0:
        return Answer(items)
    code = "1" if failed == len(items) else "2"
    return Answer(items, code=code, msg="Operation failed." if code == "1" else
                  "Bulk operation partially succeeded.")
