"""Open alerts: what the user was told and still holds, so it is alerted once.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Frozen like 0001: stored types only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "open_alerts",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("first_at", sa.DateTime(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_open_alerts"),
    )


def downgrade() -> None:
    op.drop_table("open_alerts")
