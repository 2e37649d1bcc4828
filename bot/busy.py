"""Positions an action is working on right now, in this process.

A maintenance between its open and its final close holds a big fresh position that the
hedge rule would otherwise cut down; a manual close and a take-profit tier on the same
position would race. Every action holds its position's key while it runs; the others
skip or refuse a position that is held.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

Key = tuple[str, str, str]  # (account, symbol, side)


class PositionBusy(Exception):
    def __init__(self, key: Key) -> None:
        super().__init__(f"{key[0]} {key[1]} {key[2]} is busy with another action")
        self.key = key


class BusyPositions:
    def __init__(self) -> None:
        self._held: set[Key] = set()

    def __contains__(self, key: Key) -> bool:
        return key in self._held

    def account_busy(self, account: str) -> bool:
        """Any of the account's positions held by an action of this process."""
        return any(key[0] == account for key in self._held)

    @contextmanager
    def hold(self, key: Key) -> Iterator[None]:
        if key in self._held:
            raise PositionBusy(key)
        self._held.add(key)
        try:
            yield
        finally:
            self._held.discard(key)
