"""From what a trader types to the venue's instrument and the position meant: pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.domain import Instrument, Position, Side
from bot.ops.refusal import Refusal


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
        raise Refusal("ambiguous", symbol=symbol,
                      candidates=", ".join(i.symbol for i in by_coin))
    near = sorted({i.base for i in instruments
                   if i.base.upper().startswith(wanted[:2]) or wanted in i.base.upper()})
    if near:
        raise Refusal("unknown_symbol_near", symbol=symbol[:30],
                      candidates=", ".join(near[:8]))
    known = sorted({i.base for i in instruments})
    raise Refusal("unknown_symbol_known", symbol=symbol[:30],
                  candidates=", ".join(known[:20]) + (", …" if len(known) > 20 else ""))


def choose_positions(symbol: str, side: Side | None, held: Mapping[str, Sequence[Position]],
                     inst_by_account: Mapping[str, Instrument]) -> list[Position]:
    """The positions a command can mean: one, or both sides of one account (the front
    then asks which side). Refused when there are none or the account is ambiguous."""
    matches = [p for account, positions in held.items() for p in positions
               if p.symbol == inst_by_account[account].symbol
               and (side is None or p.side is side)]
    what, side_word = symbol.upper(), side.value if side else ""
    if not matches:
        raise Refusal("no_position", what=what, side=side_word, accounts=", ".join(held))
    accounts = sorted({p.account for p in matches})
    if len(accounts) > 1:
        raise Refusal("several_accounts", what=what, side=side_word,
                      accounts=", ".join(accounts))
    return matches


_SEPARATORS = ("-", "/", "_", ":")
_QUOTES = ("USDT", "USDC", "USD")


def is_coin(symbol: str, coin: str) -> bool:
    """Whether a venue's instrument id is the coin typed (or that id itself)."""
    symbol, coin = symbol.upper(), coin.upper()
    if symbol == coin:
        return True
    if any(symbol.startswith(coin + sep) for sep in _SEPARATORS):
        return True
    return any(symbol == coin + quote for quote in _QUOTES)


def coin_of(symbol: str) -> str:
    """The coin of a venue's instrument id: `APT-USDT-SWAP`, `APT/USDT:USDT`, `APTUSDT`."""
    head = symbol
    for sep in _SEPARATORS:
        head = head.split(sep, 1)[0]
    for quote in _QUOTES:
        if head.endswith(quote) and len(head) > len(quote):
            return head[: -len(quote)]
    return head
