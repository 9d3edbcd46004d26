"""Initial schema: every table of billsync 0.1.

Revision ID: 0001
Revises: (none)
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

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_used_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("name", name=op.f("uq_api_token_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=80), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("detail", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)

    op.create_table(
        "connection",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("app", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("secrets", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("options", _JSON, nullable=False),
        sa.Column("webhook_token", sa.Text(), nullable=True),
        sa.Column("rate_limit", sa.Float(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connection")),
        sa.UniqueConstraint("app", "name", name=op.f("uq_connection_app_name")),
    )
    op.create_table(
        "flow",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("template_key", sa.String(length=120), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow")),
        sa.UniqueConstraint("name", name=op.f("uq_flow_name")),
    )
    op.create_table(
        "event",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("connection_id", _ID, nullable=False),
        sa.Column("trigger", sa.String(length=80), nullable=True),
        sa.Column("event_type", sa.String(length=80), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("entity_key", sa.String(length=255), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", _TS, nullable=True),
        sa.Column("received_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connection.id"], name=op.f("fk_event_connection_id_connection")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
        sa.UniqueConstraint(
            "connection_id", "external_id", name=op.f("uq_event_connection_id_external_id")
        ),
    )
    op.create_index(op.f("ix_event_connection_id"), "event", ["connection_id"], unique=False)
    op.create_index(op.f("ix_event_received_at"), "event", ["received_at"], unique=False)
    op.create_index(op.f("ix_event_status"), "event", ["status"], unique=False)

    op.create_table(
        "flow_version",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("flow_id", _ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", _JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["flow.id"], name=op.f("fk_flow_version_flow_id_flow"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_version")),
        sa.UniqueConstraint("flow_id", "version", name=op.f("uq_flow_version_flow_id_version")),
    )
    op.create_index(op.f("ix_flow_version_flow_id"), "flow_version", ["flow_id"], unique=False)

    op.create_table(
        "poll_cursor",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("connection_id", _ID, nullable=False),
        sa.Column("trigger", sa.String(length=80), nullable=False),
        sa.Column("cursor", _JSON, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
            name=op.f("fk_poll_cursor_connection_id_connection"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll_cursor")),
        sa.UniqueConstraint(
            "connection_id", "trigger", name=op.f("uq_poll_cursor_connection_id_trigger")
        ),
    )
    op.create_index(
        op.f("ix_poll_cursor_connection_id"), "poll_cursor", ["connection_id"], unique=False
    )

    op.create_table(
        "run",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("flow_id", _ID, nullable=False),
        sa.Column("flow_version", sa.Integer(), nullable=False),
        sa.Column("event_id", _ID, nullable=False),
        sa.Column("entity_key", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=True),
        sa.Column("lease_owner", sa.String(length=120), nullable=True),
        sa.Column("lease_expires_at", _TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"], name=op.f("fk_run_event_id_event")),
        sa.ForeignKeyConstraint(["flow_id"], ["flow.id"], name=op.f("fk_run_flow_id_flow")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run")),
        sa.UniqueConstraint("flow_id", "event_id", name=op.f("uq_run_flow_id_event_id")),
    )
    op.create_index("ix_run_entity_key_status", "run", ["entity_key", "status"], unique=False)
    op.create_index(op.f("ix_run_event_id"), "run", ["event_id"], unique=False)
    op.create_index(op.f("ix_run_flow_id"), "run", ["flow_id"], unique=False)
    op.create_index(
        "ix_run_status_next_attempt_at", "run", ["status", "next_attempt_at"], unique=False
    )

    op.create_table(
        "id_mapping",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("togai_id", sa.String(length=255), nullable=False),
        sa.Column("razorpay_id", sa.String(length=255), nullable=False),
        sa.Column("run_id", _ID, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_id_mapping_run_id_run"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_id_mapping")),
        sa.UniqueConstraint("kind", "razorpay_id", name=op.f("uq_id_mapping_kind_razorpay_id")),
        sa.UniqueConstraint("kind", "togai_id", name=op.f("uq_id_mapping_kind_togai_id")),
    )
    op.create_index(op.f("ix_id_mapping_run_id"), "id_mapping", ["run_id"], unique=False)

    op.create_table(
        "run_step",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(length=80), nullable=False),
        sa.Column("connection_id", _ID, nullable=True),
        sa.Column("action", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("input", _JSON, nullable=True),
        sa.Column("output", _JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", _TS, nullable=True),
        sa.Column("finished_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_run_step_run_id_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_step")),
        sa.UniqueConstraint("run_id", "idx", name=op.f("uq_run_step_run_id_idx")),
    )
    op.create_index(op.f("ix_run_step_run_id"), "run_step", ["run_id"], unique=False)

    op.create_table(
        "step_attempt",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error_class", sa.String(length=80), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("ambiguous", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_step_attempt_run_id_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_attempt")),
        sa.UniqueConstraint(
            "run_id", "idx", "attempt", name=op.f("uq_step_attempt_run_id_idx_attempt")
        ),
    )
    op.create_index(op.f("ix_step_attempt_run_id"), "step_attempt", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_step_attempt_run_id"), table_name="step_attempt")

    op.drop_table("step_attempt")
    op.drop_index(op.f("ix_run_step_run_id"), table_name="run_step")

    op.drop_table("run_step")
    op.drop_index(op.f("ix_id_mapping_run_id"), table_name="id_mapping")

    op.drop_table("id_mapping")
    op.drop_index("ix_run_status_next_attempt_at", table_name="run")
    op.drop_index(op.f("ix_run_flow_id"), table_name="run")
    op.drop_index(op.f("ix_run_event_id"), table_name="run")
    op.drop_index("ix_run_entity_key_status", table_name="run")

    op.drop_table("run")
    op.drop_index(op.f("ix_poll_cursor_connection_id"), table_name="poll_cursor")

    op.drop_table("poll_cursor")
    op.drop_index(op.f("ix_flow_version_flow_id"), table_name="flow_version")

    op.drop_table("flow_version")
    op.drop_index(op.f("ix_event_status"), table_name="event")
    op.drop_index(op.f("ix_event_received_at"), table_name="event")
    op.drop_index(op.f("ix_event_connection_id"), table_name="event")

    op.drop_table("event")
    op.drop_table("flow")
    op.drop_table("connection")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")

    op.drop_table("audit_log")
    op.drop_table("api_token")
