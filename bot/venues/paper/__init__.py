"""The paper venue (SPEC §9): a simulated isolated-margin perpetual-swap exchange."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from bot.venues.paper.demo import new_exchange, open_account
from bot.venues.paper.engine import PaperExchange
from bot.venues.paper.store import PaperStore
from bot.venues.paper.venue import PaperVenue

__all__ = ["PaperExchange", "PaperStore", "PaperVenue", "open_paper_exchange"]


def open_paper_exchange(store: PaperStore | None, accounts: Iterable[tuple[str, str]], *,
                        demo_portfolio: bool,
                        start_balance: Callable[[str], Decimal] = lambda role: Decimal(1000),
                        **engine_options: Any) -> PaperExchange:
    """The exchange as the store left it, or a new one. `accounts` are (name, role)
    pairs from config; an account the store does not have yet is opened now, with the
    demo positions only when the whole exchange is new (a restart never re-seeds)."""
    is_new = store is None or not store.exists()
    ex = new_exchange(**engine_options) if is_new else store.load(**engine_options)
    for name, role in accounts:
        if name not in ex.accounts:
            open_account(ex, name, role, start_balance(role),
                         with_portfolio=demo_portfolio and is_new)
    if store is not None:
        store.save_if_changed(ex)
    return ex
