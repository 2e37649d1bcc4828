"""One bot process per database (SPEC §12): two pollers on one token fight over updates
and two rule loops on one account would act twice. For a SQLite file, an exclusive lock
on a file beside it; the operating system releases it when the process dies."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url


class AlreadyRunning(Exception):
    """Another bot process holds this database's lock."""


class InstanceLock:
    def __init__(self, database_url: str) -> None:
        self._file: IO[str] | None = None
        url = make_url(database_url)
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return  # a server database: one process per database is the operator's to keep
        path = Path(f"{url.database}.lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise AlreadyRunning(f"another bot is already running on {url.database} "
                                 f"(lock {path})") from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
