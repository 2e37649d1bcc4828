"""The paper venue's state on disk, so a restart finds the same accounts, positions,
orders and fills. One JSON document, written atomically (temp file + rename) so a crash
mid-write leaves the previous state intact. Decimals are stored as strings: exact."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, fields
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.domain import (
    Fill,
    Instrument,
    Liquidity,
    OrderSide,
    OrderState,
    OrderType,
    Side,
    TimeInForce,
)
from bot.secrecy import private_folder
from bot.venues.paper.engine import PaperExchange
from bot.venues.paper.ledger import PaperAccount, PaperPosition
from bot.venues.paper.orders import PaperOrder

FORMAT = 1

# field type name -> how to rebuild it from its string form
_PARSERS: dict[str, Callable[[str], Any]] = {
    "Side": Side, "OrderSide": OrderSide, "OrderType": OrderType, "OrderState": OrderState,
    "TimeInForce": TimeInForce, "Liquidity": Liquidity, "Decimal": Decimal,
    "datetime": datetime.fromisoformat,
}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _typed(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a dataclass from `_plain` output, by its field types."""
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        parse = _PARSERS.get(str(f.type).removesuffix(" | None"))
        kwargs[f.name] = parse(value) if parse is not None and value is not None else value
    return cls(**kwargs)


def dump(ex: PaperExchange) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "next_id": ex.next_id,
        "instruments": [_plain(asdict(i)) for i in ex.instruments.values()],
        "marks": _plain(ex.market.marks),
        "frozen": sorted(ex.market.frozen),
        "random_state": _plain(ex.market.random_state()),
        "accounts": [{
            "name": a.name, "cash": str(a.cash), "reserved": str(a.reserved),
            "positions": [_plain(asdict(p)) for p in a.positions.values()],
            "leverage": [[s, side.value, str(lev)] for (s, side), lev in a.leverage.items()],
        } for a in ex.accounts.values()],
        "orders": [_plain(asdict(o)) for o in ex.orders.values()],
        "fills": {name: [_plain(asdict(f)) for f in fs] for name, fs in ex.fills.items()},
    }


def load(data: dict[str, Any], **engine_options: Any) -> PaperExchange:
    if data.get("format") != FORMAT:
        raise ValueError(f"paper state format {data.get('format')!r} is not {FORMAT}")
    instruments = [_typed(Instrument, i) for i in data["instruments"]]
    marks = {s: Decimal(p) for s, p in data["marks"].items()}
    ex = PaperExchange(instruments, marks, **engine_options)
    ex.market.frozen = set(data["frozen"])
    ex.market.set_random_state(data["random_state"])
    ex.next_id = data["next_id"]
    for a in data["accounts"]:
        acct = PaperAccount(name=a["name"], cash=Decimal(a["cash"]),
                            reserved=Decimal(a["reserved"]))
        for p in a["positions"]:
            pos = _typed(PaperPosition, p)
            acct.positions[(pos.symbol, pos.side)] = pos
        for symbol, side, lev in a["leverage"]:
            acct.leverage[(symbol, Side(side))] = Decimal(lev)
        ex.accounts[acct.name] = acct
        ex.fills[acct.name] = [_typed(Fill, f) for f in data["fills"].get(acct.name, [])]
    for o in data["orders"]:
        order = _typed(PaperOrder, o)
        ex.orders[order.venue_id] = order
        ex.client_ids[(order.account, order.client_id)] = order.venue_id
        if not order.state.is_final:
            ex.resting[order.symbol].append(order)
    ex.dirty = False
    return ex


class PaperStore:
    """Where one paper exchange lives on disk."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # Readable by the owner only: saves write it 0600 (mkstemp), an older file may be
        # wider, and so may the folder.
        if self.path.exists():
            self.path.chmod(0o600)
            private_folder(self.path.parent)

    def exists(self) -> bool:
        return self.path.exists()

    def load(self, **engine_options: Any) -> PaperExchange:
        with self.path.open(encoding="utf-8") as fh:
            return load(json.load(fh), **engine_options)

    def save(self, ex: PaperExchange) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".paper-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(dump(ex), fh, separators=(",", ":"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        ex.dirty = False

    def save_if_changed(self, ex: PaperExchange) -> None:
        if ex.dirty:
            self.save(ex)
