"""The words of `/close`, `/maintain`, `/supermaintain` and `/tp reset`, to checked values.

Pure: anything it cannot make sense of is refused here with a one-line reason, before
any use case (and so any venue) is asked for anything.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from bot.domain import Side
from bot.ops.close import Amount
from bot.ops.refusal import Refusal
from bot.sizing import HUNDRED

_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/:_-]{0,29}$")
_NUMBER = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,18})?$")  # plain decimals only: no 1e309, no NaN


@dataclass(frozen=True, slots=True)
class CloseArgs:
    symbol: str
    amount: Amount
    account: str | None
    side: Side | None


def parse_close_args(words: Sequence[str], accounts: Sequence[str]) -> CloseArgs:
    if len(words) < 2:
        raise Refusal("missing_symbol" if not words else "missing_size")
    if len(words) > 4:
        raise Refusal("too_many", extra=" ".join(words[4:])[:40])
    symbol, size, *rest = words
    if not _SYMBOL.match(symbol):
        raise Refusal("not_symbol", word=symbol[:30])
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
                raise Refusal("side_twice")
            side = Side(lowered)
        elif lowered in by_name:
            if account is not None:
                raise Refusal("account_twice")
            account = by_name[lowered]
        else:
            raise Refusal("not_account_or_side", word=word[:30],
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
        raise Refusal("missing_symbol_only")
    symbol, *rest = words
    if not _SYMBOL.match(symbol):
        raise Refusal("not_symbol", word=symbol[:30])
    numbers = [w for w in rest if w[:1].isdigit() or w[:1] in "-+."]
    if len(rest) > (4 if super_ else 2) or len(numbers) > (2 if super_ else 0):
        extra = numbers[2:] if super_ else numbers
        raise Refusal("too_many", extra=" ".join(extra or rest[2:])[:40])
    amounts = [_number(w, w) for w in numbers]
    if len(amounts) == 2 and amounts[1] >= amounts[0]:
        raise Refusal("target_not_below", target=numbers[1], amount=numbers[0])
    account, side = account_and_side([w for w in rest if w not in numbers], accounts)
    return MaintainArgs(symbol, account, side, *amounts)


def parse_amount(word: str) -> Amount:
    lowered = word.lower()
    if lowered == "all":
        return Amount("all")
    if lowered.endswith("%"):
        number = _number(lowered[:-1], word)
        if number > HUNDRED:
            raise Refusal("percent_over", word=word[:20])
        return Amount("percent", number)
    return Amount("coin", _number(lowered, word))


def _number(text: str, word: str) -> Decimal:
    if not _NUMBER.match(text):
        raise Refusal("not_size", word=word[:20])
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise Refusal("not_size", word=word[:20]) from None
    if value <= 0:
        raise Refusal("not_positive", word=word[:20])
    return value
