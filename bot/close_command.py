"""`/close SYMBOL SIZE|N%|all [account] [long|short]`: from words to a checked request.

Pure: the handler gives it the words, the configured accounts, the venues' instruments
and the positions; it answers with a request or a one-line reason. Anything it cannot
make sense of is refused here, before a venue is asked for anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from bot.domain import Instrument, Position, Side
from bot.sizing import (
    HUNDRED,
    close_size_for_coin,
    close_size_for_percent,
    coin_from_contracts,
    contracts_from_coin,
)

_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/:_-]{0,29}$")
_NUMBER = re.compile(r"^\d{1,12}(\.\d{1,18})?$")  # plain decimals only: no 1e309, no NaN


class BadCommand(ValueError):
    """Why a command was refused: a message key (bot/messages.py, `bad_<key>`) and its
    values, so the reason is told in the user's language."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key, values)
        self.key = key
        self.values = values


@dataclass(frozen=True, slots=True)
class Amount:
    kind: str  # "all" | "percent" | "coin"
    value: Decimal = Decimal(0)

    def __str__(self) -> str:
        return {"all": "all", "percent": f"{self.value}%"}.get(self.kind, str(self.value))


@dataclass(frozen=True, slots=True)
class CloseArgs:
    symbol: str
    amount: Amount
    account: str | None
    side: Side | None


def parse_close_args(words: Sequence[str], accounts: Sequence[str]) -> CloseArgs:
    if len(words) < 2:
        raise BadCommand("missing_symbol" if not words else "missing_size")
    if len(words) > 4:
        raise BadCommand("too_many", extra=" ".join(words[4:])[:40])
    symbol, size, *rest = words
    if not _SYMBOL.match(symbol):
        raise BadCommand("not_symbol", word=symbol[:30])
    amount = parse_amount(size)
    account, side = account_and_side(rest, accounts)
    return CloseArgs(symbol, amount, account, side)


def account_and_side(words: Sequence[str], accounts: Sequence[str]
                     ) -> tuple[str | None, Side | None]:
    """The optional `[account] [long|short]` words, in any order."""
    by_name = {a.lower(): a for a in accounts}
    account: str | None = None
    side: Side | None = None
    for word in words:
        lowered = word.lower()
        if lowered in ("long", "short"):
            if side is not None:
                raise BadCommand("side_twice")
            side = Side(lowered)
        elif lowered in by_name:
            if account is not None:
                raise BadCommand("account_twice")
            account = by_name[lowered]
        else:
            raise BadCommand("not_account_or_side", word=word[:30],
                             accounts=", ".join(accounts))
    return account, side


@dataclass(frozen=True, slots=True)
class MaintainArgs:
    symbol: str
    account: str | None
    side: Side | None
    amount: Decimal | None = None  # super maintenance: margin to open, USDT
    target: Decimal | None = None  # super maintenance: margin to keep, USDT


def parse_maintain_args(words: Sequence[str], accounts: Sequence[str], *,
                        super_: bool) -> MaintainArgs:
    """`SYMBOL [account] [long|short]`, and for super maintenance `[amount] [target]`."""
    if not words:
        raise BadCommand("missing_symbol_only")
    symbol, *rest = words
    if not _SYMBOL.match(symbol):
        raise BadCommand("not_symbol", word=symbol[:30])
    numbers = [w for w in rest if w[:1].isdigit() or w[:1] in "-+."]
    if len(rest) > (4 if super_ else 2) or len(numbers) > (2 if super_ else 0):
        extra = numbers[2:] if super_ else numbers
        raise BadCommand("too_many", extra=" ".join(extra or rest[2:])[:40])
    amounts = [_number(w, w) for w in numbers]
    if len(amounts) == 2 and amounts[1] >= amounts[0]:
        raise BadCommand("target_not_below", target=numbers[1], amount=numbers[0])
    account, side = account_and_side([w for w in rest if w not in numbers], accounts)
    return MaintainArgs(symbol, account, side, *amounts)


def parse_amount(word: str) -> Amount:
    lowered = word.lower()
    if lowered == "all":
        return Amount("all")
    if lowered.endswith("%"):
        number = _number(lowered[:-1], word)
        if number > HUNDRED:
            raise BadCommand("percent_over", word=word[:20])
        return Amount("percent", number)
    return Amount("coin", _number(lowered, word))


def _number(text: str, word: str) -> Decimal:
    if not _NUMBER.match(text):
        raise BadCommand("not_size", word=word[:20])
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise BadCommand("not_size", word=word[:20]) from None
    if value <= 0:
        raise BadCommand("not_positive", word=word[:20])
    return value


def resolve_instrument(symbol: str, instruments: Sequence[Instrument]) -> Instrument:
    """A short coin (`apt`) or the venue's own id (`APT-USDT-SWAP`), case-insensitive."""
    wanted = symbol.upper()
    exact = [i for i in instruments if i.symbol.upper() == wanted]
    if exact:
        return exact[0]
    by_coin = [i for i in instruments if i.base.upper() == wanted]
    if len(by_coin) == 1:
        return by_coin[0]
    if by_coin:
        raise BadCommand("ambiguous", symbol=symbol,
                         candidates=", ".join(i.symbol for i in by_coin))
    near = sorted({i.base for i in instruments
                   if i.base.upper().startswith(wanted[:2]) or wanted in i.base.upper()})
    if near:
        raise BadCommand("unknown_symbol_near", symbol=symbol[:30],
                         candidates=", ".join(near[:8]))
    known = sorted({i.base for i in instruments})
    raise BadCommand("unknown_symbol_known", symbol=symbol[:30],
                     candidates=", ".join(known[:20]) + (", …" if len(known) > 20 else ""))


@dataclass(frozen=True, slots=True)
class CloseTarget:
    position: Position
    size: Decimal  # contracts, on the lot, minimum rules applied


def choose_positions(args: CloseArgs | MaintainArgs, held: Mapping[str, Sequence[Position]],
                     inst_by_account: Mapping[str, Instrument]) -> list[Position]:
    """The positions the command can mean: one, or both sides of one account (the
    handler then asks which side). Raises with the reason when there are none or the
    account is ambiguous."""
    matches = [p for account, positions in held.items() for p in positions
               if p.symbol == inst_by_account[account].symbol
               and (args.side is None or p.side is args.side)]
    what, side = args.symbol.upper(), args.side.value if args.side else ""
    if not matches:
        raise BadCommand("no_position", what=what, side=side, accounts=", ".join(held))
    accounts = sorted({p.account for p in matches})
    if len(accounts) > 1:
        raise BadCommand("several_accounts", what=what, side=side,
                         accounts=", ".join(accounts))
    return matches


def close_target(position: Position, amount: Amount) -> CloseTarget:
    inst = position.instrument
    if amount.kind == "all":
        return CloseTarget(position, position.size)
    if amount.kind == "percent":
        size = close_size_for_percent(position.size, amount.value, inst)
    else:
        held = coin_from_contracts(position.size, inst)
        if contracts_from_coin(amount.value, inst) > position.size:
            raise BadCommand("above_position", amount=f"{amount.value} {inst.base}",
                             held=f"{held.normalize():f} {inst.base}")
        size = close_size_for_coin(position.size, amount.value, inst)
    if size <= 0:
        minimum = coin_from_contracts(inst.min_size, inst)
        raise BadCommand("below_minimum", amount=str(amount),
                         minimum=f"{minimum.normalize():f} {inst.base}")
    return CloseTarget(position, size)
