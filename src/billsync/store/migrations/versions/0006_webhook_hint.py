"""webhook_hint: unsigned webhooks stored as hints, acknowledged, resolved in batches.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_hint",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("connection_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.String(length=255), nullable=False),
        sa.Column("hint", sa.String(length=80), nullable=False),
        sa.Column("occurred_at", _TS, nullable=True),
        sa.Column("received_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
            name=op.f("fk_webhook_hint_connection_id_connection"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_hint")),
        sa.UniqueConstraint(
            "connection_id",
            "kind",
            "entity_id",
            "hint",
            name=op.f("uq_webhook_hint_connection_id_kind_entity_id_hint"),
        ),
    )
    op.create_index(
        op.f("ix_webhook_hint_connection_id"), "webhook_hint", ["connection_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_webhook_hint_connection_id"), table_name="webhook_hint")
    op.drop_table("webhook_hint")
