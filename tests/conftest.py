"""Fixtures several test modules share."""

from __future__ import annotations

from collections import Counter

import pytest

from bot.venues.paper.demo import new_exchange
from db import Database, Store
from tests.fakes.okx_accounts import CREDENTIALS, KEYS
from tests.fakes.okx_server import FakeOkxServer


@pytest.fixture(params=["paper", "okx"])
async def venue_kind(request):
    """None: the bot's own paper venue. Else (exchange, base url, server): OKX accounts
    through the fake OKX server, the real python-okx client talking to it."""
    if request.param == "paper":
        yield None
        return
    exchange = new_exchange()
    async with FakeOkxServer(exchange, KEYS, credentials=CREDENTIALS) as server:
        yield exchange, server.base_url, server


@pytest.fixture
def store(tmp_path):
    """A migrated SQLite database of the test's own, behind the bot's Store."""
    db = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    db.migrate()
    yield Store(db)
    db.dispose()


# -- the reliability figures: each reliability test adds its own, the run prints them all --

_FIGURES: dict[str, Counter[str]] = {}


@pytest.fixture
def figures():
    """`figures("kill points")["tried"] += 1`: counters printed at the end of the run, so
    the reliability suite says what it tried and what it found (README "Reliability")."""
    def section(name: str) -> Counter[str]:
        return _FIGURES.setdefault(name, Counter())
    return section


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001 - pytest's hook
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, counts in _FIGURES.items():
        terminalreporter.write_line(
            f"{name}: " + ", ".join(f"{key} {value}" for key, value in counts.items()))
