"""Fault injection for the paper venue: the ways real venues misbehave, on demand.

- reject: the next N order placements fail with a given OKX code (e.g. 51008, 50013);
- never fill: orders are accepted and stay live until cancelled (seed 000's close that
  answered code=200 and never executed);
- timeout after accept: the order is placed, then the caller gets a timeout instead of
  the answer, so it must look the order up by client id;
- latency: every call waits this long first.

Faults are per account; `None` as the account means every account.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class _Rejection:
    code: str
    message: str | None
    remaining: int | None  # None = until cleared


@dataclass(slots=True)
class Faults:
    _rejections: dict[str | None, _Rejection] = field(default_factory=dict)
    _never_fill: set[str | None] = field(default_factory=set)
    _timeouts: dict[str | None, int] = field(default_factory=dict)
    latency_seconds: float = 0.0

    def reject_orders(self, code: str, message: str | None = None, *, times: int | None = 1,
                      account: str | None = None) -> None:
        self._rejections[account] = _Rejection(code, message, times)

    def never_fill(self, account: str | None = None, enabled: bool = True) -> None:
        if enabled:
            self._never_fill.add(account)
        else:
            self._never_fill.discard(account)

    def timeout_after_accept(self, times: int = 1, account: str | None = None) -> None:
        self._timeouts[account] = times

    def clear(self) -> None:
        self._rejections.clear()
        self._never_fill.clear()
        self._timeouts.clear()
        self.latency_seconds = 0.0

    # -- consulted by the engine and the transports ------------------------------------

    def take_rejection(self, account: str) -> tuple[str, str | None] | None:
        for key in (account, None):
            rejection = self._rejections.get(key)
            if rejection is None:
                continue
            if rejection.remaining is not None:
                rejection.remaining -= 1
                if rejection.remaining <= 0:
                    del self._rejections[key]
            return rejection.code, rejection.message
        return None

    def fills_blocked(self, account: str) -> bool:
        return account in self._never_fill or None in self._never_fill

    def take_timeout(self, account: str) -> bool:
        for key in (account, None):
            left = self._timeouts.get(key, 0)
            if left > 0:
                if left == 1:
                    del self._timeouts[key]
                else:
                    self._timeouts[key] = left - 1
                return True
        return False
