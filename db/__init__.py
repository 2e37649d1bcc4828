"""The database layer: SQLAlchemy models, Alembic migrations and the `Store` the bot calls.

Typical use: `db = Database(url); db.migrate(); store = Store(db)`.
"""

from db.repo import Store
from db.session import Database

__all__ = ["Database", "Store"]
