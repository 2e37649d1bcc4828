"""Fixtures several test modules share."""

from __future__ import annotations

import pytest

from db import Database, Store


@pytest.fixture
def store(tmp_path):
    """A migrated SQLite database of the test's own, behind the bot's Store."""
    db = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    db.migrate()
    yield Store(db)
    db.dispose()
