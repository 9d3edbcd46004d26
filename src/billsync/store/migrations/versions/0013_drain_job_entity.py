"""An index on the entity of billsync's waiting drain jobs (PostgreSQL only).

Every wake-up asks whether its entity already has a drain job waiting (`JobQueue._waiting`,
engine/job_queue.py): with a month-end backlog of tens of thousands of `todo` jobs, that
question would otherwise scan them all, once per intake transaction and once per retry.
Partial: only `todo` jobs of billsync's queue, the rows the question reads.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "billsync_drain_job_entity_idx"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no procrastinate tables (the embedded dispatcher)
    op.execute(
        f"CREATE INDEX {_INDEX} ON procrastinate_jobs ((args->>'entity')) "
        "WHERE status = 'todo' AND queue_name = 'billsync_runs'"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {_INDEX}")
