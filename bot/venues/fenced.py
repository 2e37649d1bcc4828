"""A venue that sends nothing for an account whose lease this process does not hold: the
last check before an order, a cancel, a leverage or a margin change leaves the process
(bot/fence.py). Reads pass: any process may look."""

from __future__ import annotations

from typing import Any

from bot.fence import Fence

SENDS = frozenset({"place_order", "cancel_order", "set_leverage", "change_margin"})


class FencedVenue:
    def __init__(self, account: str, venue: Any, fence: Fence) -> None:
        self._account = account
        self._venue = venue
        self._fence = fence

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._venue, name)
        if name not in SENDS:
            return attribute
        account, fence = self._account, self._fence

        async def fenced(*args: Any, **kwargs: Any) -> Any:
            await fence.ensure(account)
            return await attribute(*args, **kwargs)

        return fenced
