"""Fixtures several test modules share."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from bot.venues.paper.demo import new_exchange
from db import Database, Store
from tests.fakes.okx_accounts import CREDENTIALS, KEYS
from tests.fakes.okx_server import FakeOkxServer
from tests.pgserver import PostgresServer, ServerMissing


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


@pytest.fixture(scope="session")
def postgres():
    """The run's PostgreSQL server (tests/pgserver.py). Missing: the test is skipped on a
    developer's machine and fails under CI=true, saying why."""
    try:
        server = PostgresServer().start()
    except ServerMissing as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is needed under CI=true: {exc}")
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A migrated database of the test's own: an SQLite file, and a PostgreSQL database
    on the run's server (every test that takes it runs on both)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bot.db'}"
        db = Database(url)
        db.migrate()
        db.dispose()
        yield url
        return
    server = request.getfixturevalue("postgres")
    url = server.new_database()
    yield url
    server.drop(url)


@pytest.fixture
def store(database_url):
    """The bot's Store on the test's own database (SQLite, then PostgreSQL)."""
    db = Database(database_url)
    db.migrate()
    yield Store(db)
    db.dispose()


# -- pytest-xdist (pyproject.toml's addopts: -n 3 --dist loadgroup) --------------------------

# Modules whose tests all run on one worker: the kill points run all together in a module
# fixture (about 80 s, two bot starts each), which every worker given one of its tests
# would run again; and the fuzzing, CPU-bound, started early rather than left for last.
ONE_WORKER = ("tests/test_reliability_kills.py", "tests/test_reliability_fuzz.py")


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # pytest-xdist's hook, on the controller
def pytest_xdist_make_scheduler(config, log):  # noqa: ANN001, ANN201 - pytest-xdist's hook
    """--dist loadgroup, with ONE_WORKER's modules each a group. (xdist 3.8's own
    `xdist_group` mark groups nothing under pytest 9.2, which keeps a node id in `_id`, not
    the `_nodeid` xdist appends the group to.) Groups are handed out largest first, so the
    kill points start at once."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class OneWorkerModules(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in ONE_WORKER else super()._split_scope(nodeid)

    return OneWorkerModules(config, log)


# -- the reliability figures: each reliability test adds its own, the run prints them all --

_FIGURES: dict[str, Counter[str]] = {}


@pytest.fixture
def figures():
    """`figures("kill points")["tried"] += 1`: counters printed at the end of the run, so
    the reliability suite says what it tried and what it found (README "Reliability")."""
    def section(name: str) -> Counter[str]:
        return _FIGURES.setdefault(name, Counter())
    return section


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under pytest-xdist a worker hands its figures to the controller, which prints them."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["reliability_figures"] = {
            name: dict(counts) for name, counts in _FIGURES.items()}


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook, on the controller
def pytest_testnodedown(node, error) -> None:  # noqa: ANN001 - pytest-xdist's hook
    worker = getattr(node, "workeroutput", None) or {}
    for name, counts in worker.get("reliability_figures", {}).items():
        _FIGURES.setdefault(name, Counter()).update(counts)


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001 - pytest's hook
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, counts in _FIGURES.items():
        terminalreporter.write_line(
            f"{name}: " + ", ".join(f"{key} {value}" for key, value in counts.items()))
