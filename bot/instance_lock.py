"""One bot process per database and one per bot token (SPEC §12): two rule loops on one
account would act twice, and two pollers on one token fight over updates (409 Conflict).
Each is an exclusive lock on a file; the operating system releases it when the process
dies."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import stat
import tempfile
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from bot.secrecy import private_file, private_folder

DEFAULT_BOT_API = "https://api.telegram.org/bot"


class AlreadyRunning(Exception):
    """Another bot process holds this database's or this token's lock."""


class InstanceLock:
    """The database's lock, and with `token` the token's, held until `release`."""

    def __init__(self, database_url: str, *, token: str | None = None,
                 base_url: str | None = None) -> None:
        self._files: list[IO[str]] = []
        try:
            url = make_url(database_url)
            if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
                # The real path, so a symlink or another relative path to the same file
                # finds the same lock. A server database: one process per database is the
                # operator's to keep.
                real = Path(url.database).expanduser().resolve()
                self._take(real.with_name(real.name + ".lock"),
                           f"another bot is already running on {url.database}")
            if token is not None:
                self._take(_token_lock_path(token, base_url),
                           f"another bot is already polling Telegram as bot "
                           f"{token.split(':')[0]} on this machine")
        except BaseException:
            self.release()
            raise

    def _take(self, path: Path, busy: str) -> None:
        private_folder(path.parent)
        handle = private_file(path).open("r+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise AlreadyRunning(f"{busy} (lock {path})") from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        self._files.append(handle)

    def release(self) -> None:
        while self._files:
            handle = self._files.pop()
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


def _token_lock_path(token: str, base_url: str | None) -> Path:
    """Keyed by the bot id (the token's public part: a file name must not carry the secret)
    and the Bot API server, whose getUpdates is what two pollers fight over. It lives in
    the user's runtime folder, not beside the database: two bots on one token usually have
    two databases, so only a place every bot of the user shares can see both. (Bots of other
    users or machines are caught by Telegram's Conflict at start, see bot/app.py.)"""
    server = hashlib.sha256((base_url or DEFAULT_BOT_API).rstrip("/").encode()).hexdigest()
    return _runtime_folder() / f"telegram-{token.split(':')[0]}-{server[:12]}.lock"


def _runtime_folder() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = (Path(runtime) / "anchor-bot" if runtime
              else Path(tempfile.gettempdir()) / f"anchor-bot-{os.getuid()}")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = folder.lstat()  # in a shared /tmp, someone else may have made it first
    if found.st_uid != os.getuid() or not stat.S_ISDIR(found.st_mode):
        raise PermissionError(errno.EPERM, "not a folder of this user", str(folder))
    return private_folder(folder)
