"""hint_claim: a connection's hint round runs in one process at a time across the cluster.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hint_claim",
        sa.Column("connection_id", _ID, nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("held_until", _TS, nullable=False),
        sa.Column("resolved_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
            name=op.f("fk_hint_claim_connection_id_connection"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", name=op.f("pk_hint_claim")),
    )


def downgrade() -> None:
    op.drop_table("hint_claim")
