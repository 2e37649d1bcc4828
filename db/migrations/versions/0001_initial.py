"""Initial schema: actions, steps, orders, fills, rule state, events, confirmations, settings.

Revision ID: 0001
Revises:
Create Date: 2025-11-21

Written by hand and frozen: it uses the stored types (Decimal as String, datetimes as
naive-UTC DateTime) rather than importing `db.types`, so later edits to the application
cannot change what this revision creates. `tests/test_db.py` checks it equals the models.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=True),
        sa.Column("side", sa.String(8), nullable=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.BigInteger(), nullable=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_actions"),
    )
    op.create_index("ix_actions_account_symbol_side", "actions", ["account", "symbol", "side"])
    op.create_index("ix_actions_state", "actions", ["state"])
    op.create_index("ix_actions_created_at", "actions", ["created_at"])

    op.create_table(
        "action_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_action_steps"),
        sa.ForeignKeyConstraint(["action_id"], ["actions.id"], ondelete="CASCADE",
                                name="fk_action_steps_action_id_actions"),
        sa.UniqueConstraint("action_id", "seq", name="uq_action_steps_action_id_seq"),
        sa.UniqueConstraint("client_id", name="uq_action_steps_client_id"),
    )
    op.create_index("ix_action_steps_state", "action_steps", ["state"])

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("venue_id", sa.String(64), nullable=True),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("position_side", sa.String(8), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("size", sa.String(), nullable=False),
        sa.Column("price", sa.String(), nullable=True),
        sa.Column("reduce_only", sa.Boolean(), nullable=False),
        sa.Column("time_in_force", sa.String(8), nullable=False),
        sa.Column("expire_at", sa.DateTime(), nullable=True),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("filled_size", sa.String(), nullable=False),
        sa.Column("average_price", sa.String(), nullable=True),
        sa.Column("fee", sa.String(), nullable=False),
        sa.Column("realized_pnl", sa.String(), nullable=False),
        sa.Column("reject_code", sa.String(32), nullable=True),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("action_id", sa.Integer(), nullable=True),
        sa.Column("step_id", sa.Integer(), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.ForeignKeyConstraint(["action_id"], ["actions.id"],
                                name="fk_orders_action_id_actions"),
        sa.ForeignKeyConstraint(["step_id"], ["action_steps.id"],
                                name="fk_orders_step_id_action_steps"),
        sa.UniqueConstraint("account", "client_id", name="uq_orders_account_client_id"),
    )
    op.create_index("ix_orders_account_venue_id", "orders", ["account", "venue_id"])
    op.create_index("ix_orders_state", "orders", ["state"])
    op.create_index("ix_orders_action_id", "orders", ["action_id"])
    op.create_index("ix_orders_step_id", "orders", ["step_id"])
    op.create_index("ix_orders_symbol_created_at", "orders", ["symbol", "created_at"])

    op.create_table(
        "fills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("trade_id", sa.String(64), nullable=False),
        sa.Column("order_client_id", sa.String(64), nullable=False),
        sa.Column("order_venue_id", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("position_side", sa.String(8), nullable=False),
        sa.Column("size", sa.String(), nullable=False),
        sa.Column("price", sa.String(), nullable=False),
        sa.Column("fee", sa.String(), nullable=False),
        sa.Column("realized_pnl", sa.String(), nullable=False),
        sa.Column("liquidity", sa.String(8), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_fills"),
        sa.UniqueConstraint("account", "symbol", "trade_id",
                            name="uq_fills_account_symbol_trade_id"),
    )
    op.create_index("ix_fills_account_order_client_id", "fills",
                    ["account", "order_client_id"])
    op.create_index("ix_fills_order_venue_id", "fills", ["order_venue_id"])
    op.create_index("ix_fills_symbol_time", "fills", ["symbol", "time"])

    op.create_table(
        "rule_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_rule_state"),
        sa.UniqueConstraint("account", "symbol", "side", "rule",
                            name="uq_rule_state_account_symbol_side_rule"),
    )
    op.create_index("ix_rule_state_rule", "rule_state", ["rule"])

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("account", sa.String(64), nullable=True),
        sa.Column("symbol", sa.String(64), nullable=True),
        sa.Column("side", sa.String(8), nullable=True),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("action_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.ForeignKeyConstraint(["action_id"], ["actions.id"],
                                name="fk_events_action_id_actions"),
    )
    op.create_index("ix_events_symbol_time", "events", ["symbol", "time"])
    op.create_index("ix_events_name_time", "events", ["name", "time"])
    op.create_index("ix_events_time", "events", ["time"])

    op.create_table(
        "confirmations",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_confirmations"),
    )
    op.create_index("ix_confirmations_state_expires_at", "confirmations",
                    ["state", "expires_at"])

    op.create_table(
        "settings",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_settings"),
    )


def downgrade() -> None:
    # Children before parents, so the foreign keys never point at a missing table.
    for table in ("settings", "confirmations", "events", "rule_state", "fills", "orders",
                  "action_steps", "actions"):
        op.drop_table(table)
