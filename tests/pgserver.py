"""A real PostgreSQL server for the tests: Debian's binaries (`apt-get install postgresql`;
`.ci/run` installs them when missing), a data folder of this test run's own, loopback
and a free port; stopped when the run ends.

Each test gets a database of its own, cloned from a template the migrations ran on once
(`CREATE DATABASE … TEMPLATE`): tens of milliseconds, not a migration per test.

Why not pytest-postgresql: PostgreSQL refuses to run as root, and CI runs as root;
pytest-postgresql has no way to run the server as another user (its issue #455), this
does (`setpriv` to Debian's `postgres` user, which owns the data folder).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from db import Database

TEMPLATE = "bot_template"
START_SECONDS = 30.0


class ServerMissing(Exception):
    """No PostgreSQL server binaries on this machine."""


def binaries() -> Path:
    """Where Debian puts the server's programs (pg_ctl is not on PATH there); the newest
    major version when there are several."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                   else 0)
    if found:
        return found[-1].parent
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path).resolve().parent
    raise ServerMissing("no PostgreSQL server found (apt-get install postgresql)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    def __init__(self) -> None:
        self.bin = binaries()
        self.folder = Path(tempfile.mkdtemp(prefix="bot-postgres-"))
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)
        # The server ends with the test process, however that ends (a killed run must not
        # leave servers behind); as root, it runs as Debian's postgres user, which owns
        # its folder.
        self._as = ["setpriv", "--pdeathsig", "SIGQUIT"]
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise ServerMissing("running as root and there is no postgres user to run "
                                    "the server as (apt-get install postgresql)") from None
            shutil.chown(self.folder, "postgres", "postgres")
            self._as += ["--reuid=postgres", "--regid=postgres", "--init-groups"]

    def start(self) -> PostgresServer:
        data = self.folder / "data"
        subprocess.run([*self._as, str(self.bin / "initdb"), "-D", str(data), "-U", "postgres",
                        "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"],
                       check=True, capture_output=True)
        # Durability off: a test database lives for one run. Connections for the bot
        # processes of the cluster tests, each with its pool.
        self.process = subprocess.Popen(
            [*self._as, str(self.bin / "postgres"), "-D", str(data), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.folder}",
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=300"],
            stdout=subprocess.DEVNULL, stderr=(self.folder / "server.log").open("wb"))
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    break
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = (self.folder / "server.log").read_text(errors="replace")[-2000:]
                    self.stop()
                    raise RuntimeError(f"PostgreSQL did not start:\n{log}") from None
                time.sleep(0.05)
        self._make_template()
        return self

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        """The bot's `database.url` for `database` on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _execute(self, statement: str) -> None:
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as connection:
            connection.execute(statement)

    def _make_template(self) -> None:
        self._execute(f"CREATE DATABASE {TEMPLATE}")
        db = Database(self.url(TEMPLATE))
        try:
            db.migrate()
        finally:
            db.dispose()

    def new_database(self, *, migrated: bool = True) -> str:
        """A new database's URL: migrated (a clone of the template), or empty."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self._execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {TEMPLATE}" if migrated else ""))
        return self.url(name)

    def drop(self, url: str) -> None:
        """A test's database gone, its connections cut (each is some 8 MB on disk)."""
        name = url.rsplit("/", 1)[1]
        self._execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # SIGQUIT: PostgreSQL's immediate shutdown, no checkpoint (the data is thrown
            # away); a fast one waits for every backend of the run's pools to end first
            self.process.send_signal(signal.SIGQUIT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
