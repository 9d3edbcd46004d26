"""Reconciliations and their items (engine/reconcile's reports, stored for the API, UI,
gauge and schedule).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Plain column types: a migration must not change when the models' Python types do.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reconciliation",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("togai_connection_id", _ID, nullable=False),
        sa.Column("razorpay_connection_id", _ID, nullable=False),
        sa.Column("since", _TS, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("progress", sa.String(length=200), nullable=True),
        sa.Column("summary", _JSON, nullable=True),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("drift", sa.Integer(), nullable=True),
        sa.Column("calls", _JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["togai_connection_id"],
            ["connection.id"],
            name=op.f("fk_reconciliation_togai_connection_id_connection"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["razorpay_connection_id"],
            ["connection.id"],
            name=op.f("fk_reconciliation_razorpay_connection_id_connection"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation")),
    )
    op.create_index(
        op.f("ix_reconciliation_togai_connection_id"), "reconciliation", ["togai_connection_id"]
    )
    op.create_index(
        op.f("ix_reconciliation_razorpay_connection_id"),
        "reconciliation",
        ["razorpay_connection_id"],
    )
    op.create_index(op.f("ix_reconciliation_status"), "reconciliation", ["status"])
    op.create_index(
        "ix_reconciliation_pair_id",
        "reconciliation",
        ["togai_connection_id", "razorpay_connection_id", "id"],
    )
    op.create_table(
        "reconciliation_item",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("reconciliation_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("togai_id", sa.String(length=255), nullable=True),
        sa.Column("razorpay_id", sa.String(length=255), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("fix", sa.Text(), nullable=True),
        sa.Column("fixed_at", _TS, nullable=True),
        sa.Column("fix_event_id", _ID, nullable=True),
        sa.Column("fix_run_ids", _JSON, nullable=True),
        sa.Column("fix_skipped", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["reconciliation_id"],
            ["reconciliation.id"],
            name=op.f("fk_reconciliation_item_reconciliation_id_reconciliation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_item")),
    )
    op.create_index(
        op.f("ix_reconciliation_item_reconciliation_id"),
        "reconciliation_item",
        ["reconciliation_id"],
    )
    op.create_index(
        "ix_reconciliation_item_state", "reconciliation_item", ["reconciliation_id", "state", "id"]
    )


def downgrade() -> None:
    op.drop_table("reconciliation_item")
    op.drop_table("reconciliation")
