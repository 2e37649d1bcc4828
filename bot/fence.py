"""Fencing in a cluster: a process acts for an account only while it holds that account's
lease (bot/cluster.py). What checks it raises LeaseLost, which is no ordinary error: the
action was not refused, not failed — it is another process's now, which takes it up from
the journal. So nothing here is told to the trader or written as a failure, and it is a
BaseException, past every `except Exception` between the check and the job that ran it.
"""

from __future__ import annotations

from typing import Protocol


class LeaseLost(BaseException):
    """This process no longer acts for `account`: nothing more is sent or written for it."""

    def __init__(self, account: str) -> None:
        super().__init__(f"the lease of account {account} is held by another process now")
        self.account = account


class Fence(Protocol):
    async def ensure(self, account: str) -> None:
        """Return when this process may act for `account` now; raise LeaseLost if not."""
