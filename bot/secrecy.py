"""Secrets stay secret: every configured secret is masked in every log line, traceback and
start-up error, and the bot's data files are readable by their owner only."""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

if TYPE_CHECKING:
    from bot.config import Config

MASK = "***"
# Real tokens and keys are long; a test's "k" would turn every k of every line into ***.
MIN_SECRET_LENGTH = 4
_TRACEBACKS = logging.Formatter()


def config_secrets(config: Config) -> list[str]:
    """Every secret of the config: the bot token, each account's key, secret and
    passphrase, the status page's token and the database password."""
    values = [config.telegram.token, config.status_page.token,
              *(getattr(account, key) for account in config.accounts
                for key in ("api_key", "api_secret", "passphrase"))]
    found = [value.get_secret_value() for value in values if value is not None]
    password = re.search(r"://[^:/@]*:([^@]*)@", config.database.url)
    if password:
        found += [password[1], unquote(password[1])]
    return found


class SecretScrubber(logging.Filter):
    """Masks the secrets in a record's message, exception text and stack; as a handler
    filter it sees every record that handler writes, whichever logger made it. Also
    callable on any text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        forms = {form for secret in secrets if len(secret) >= MIN_SECRET_LENGTH
                 for form in (secret, quote(secret, safe=""))}  # as written, and in a URL
        longest_first = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, longest_first))) if forms else None

    def __call__(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern is not None else text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep its parts, masked, rather than fail
            message = f"{record.msg} {record.args}"
        record.msg, record.args = self(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:  # the formatter prints exc_text when it is set
            record.exc_text = self(record.exc_text)
        if record.stack_info:
            record.stack_info = self(record.stack_info)
        return True


def private_folder(path: Path) -> Path:
    """`path` created (with its parents) or tightened to be the owner's alone (0700) —
    unless it is a folder shared on purpose (sticky, like /tmp) or someone else's: a
    database file put there is still private by its own mode."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    status = path.stat()
    if not status.st_mode & stat.S_ISVTX and status.st_uid == os.getuid():
        path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """`path` created empty if missing, and readable and writable by the owner only (0600),
    also when it was there with a wider mode."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    path.chmod(0o600)
    return path
