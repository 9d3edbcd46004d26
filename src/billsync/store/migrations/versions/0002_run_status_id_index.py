"""Index run (status, id): claims walk each claimable status in id order.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_run_status_id", "run", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_run_status_id", table_name="run")
