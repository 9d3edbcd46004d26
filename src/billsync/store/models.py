"""The schema: one mapped class per table. Repositories are the only code that queries them.

Naming follows the house rules: singular snake_case tables, `_at` timestamps, named
constraints (the naming convention below), so migrations can refer to them on every backend.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from billsync.store.columns import IdType, JSONType, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def _id() -> Mapped[int]:
    return mapped_column(IdType, primary_key=True, autoincrement=True)


def _fk(target: str, *, nullable: bool = False, ondelete: str | None = None) -> Mapped[Any]:
    return mapped_column(
        IdType, sa.ForeignKey(target, ondelete=ondelete), nullable=nullable, index=True
    )


class Connection(Base):
    """One set of credentials for one app ("App link name")."""

    __tablename__ = "connection"
    __table_args__ = (sa.UniqueConstraint("app", "name"),)

    id: Mapped[int] = _id()
    app: Mapped[str] = mapped_column(sa.String(40))
    name: Mapped[str] = mapped_column(sa.String(120))
    #: Fernet token of the secret field values (JSON object); see store/vault.py.
    secrets: Mapped[str] = mapped_column(sa.Text)
    #: Which key encrypted `secrets` and `webhook_token` (a short digest, never the key).
    key_id: Mapped[str] = mapped_column(sa.String(32))
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: Fernet token of the secret part of this connection's webhook URL (Togai signs nothing).
    webhook_token: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    #: Requests per second toward the app; None: the configured default.
    rate_limit: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Flow(Base):
    __tablename__ = "flow"

    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    #: The version new runs use; versions are immutable once written.
    current_version: Mapped[int] = mapped_column(sa.Integer, default=1)
    #: The template the flow was created from, if any.
    template_key: Mapped[str | None] = mapped_column(sa.String(120), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FlowVersion(Base):
    __tablename__ = "flow_version"
    __table_args__ = (sa.UniqueConstraint("flow_id", "version"),)

    id: Mapped[int] = _id()
    flow_id: Mapped[int] = _fk("flow.id", ondelete="CASCADE")
    version: Mapped[int] = mapped_column(sa.Integer)
    #: FlowDefinition as JSON (engine/flow.py).
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Event(Base):
    """The inbox: one row per provider occurrence, deduplicated on arrival."""

    __tablename__ = "event"
    __table_args__ = (sa.UniqueConstraint("connection_id", "external_id"),)

    id: Mapped[int] = _id()
    connection_id: Mapped[int] = _fk("connection.id")
    #: None when no catalogue trigger knows the event type (stored, then ignored).
    trigger: Mapped[str | None] = mapped_column(sa.String(80), nullable=True)
    event_type: Mapped[str] = mapped_column(sa.String(80))
    external_id: Mapped[str] = mapped_column(sa.String(255))
    entity_key: Mapped[str] = mapped_column(sa.String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Run(Base):
    """One execution of one flow version for one event. The run table is the queue."""

    __tablename__ = "run"
    __table_args__ = (
        sa.UniqueConstraint("flow_id", "event_id"),
        sa.Index("ix_run_status_next_attempt_at", "status", "next_attempt_at"),
        sa.Index("ix_run_entity_key_status", "entity_key", "status"),
        # The claim walks each claimable status in id order (store/leases.py).
        sa.Index("ix_run_status_id", "status", "id"),
    )

    id: Mapped[int] = _id()
    flow_id: Mapped[int] = _fk("flow.id")
    flow_version: Mapped[int] = mapped_column(sa.Integer)
    event_id: Mapped[int] = _fk("event.id")
    #: Runs sharing it execute one after another, oldest first (design invariant 6).
    entity_key: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[str] = mapped_column(sa.String(16))
    #: Times an executor took the lease.
    attempt: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(120), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RunStep(Base):
    """The latest state of one step of one run (history is in step_attempt)."""

    __tablename__ = "run_step"
    __table_args__ = (sa.UniqueConstraint("run_id", "idx"),)

    id: Mapped[int] = _id()
    run_id: Mapped[int] = _fk("run.id", ondelete="CASCADE")
    idx: Mapped[int] = mapped_column(sa.Integer)
    step_id: Mapped[str] = mapped_column(sa.String(80))
    connection_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    #: "<app>.<action key>", e.g. "razorpay.create_customer"
    action: Mapped[str] = mapped_column(sa.String(120))
    status: Mapped[str] = mapped_column(sa.String(16))
    input: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    output: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StepAttempt(Base):
    """One try of one step: the run history the UI shows."""

    __tablename__ = "step_attempt"
    __table_args__ = (sa.UniqueConstraint("run_id", "idx", "attempt"),)

    id: Mapped[int] = _id()
    run_id: Mapped[int] = _fk("run.id", ondelete="CASCADE")
    idx: Mapped[int] = mapped_column(sa.Integer)
    attempt: Mapped[int] = mapped_column(sa.Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outcome: Mapped[str] = mapped_column(sa.String(16))
    error_class: Mapped[str | None] = mapped_column(sa.String(80), nullable=True)
    message: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    #: The call may have reached the provider: the next attempt checks the natural key first.
    ambiguous: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class IdMapping(Base):
    """A Togai id ↔ Razorpay id link; unique on each side within its kind."""

    __tablename__ = "id_mapping"
    __table_args__ = (
        sa.UniqueConstraint("kind", "togai_id"),
        sa.UniqueConstraint("kind", "razorpay_id"),
    )

    id: Mapped[int] = _id()
    kind: Mapped[str] = mapped_column(sa.String(32))
    togai_id: Mapped[str] = mapped_column(sa.String(255))
    razorpay_id: Mapped[str] = mapped_column(sa.String(255))
    run_id: Mapped[int | None] = _fk("run.id", nullable=True, ondelete="SET NULL")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PollCursor(Base):
    __tablename__ = "poll_cursor"
    __table_args__ = (sa.UniqueConstraint("connection_id", "trigger"),)

    id: Mapped[int] = _id()
    connection_id: Mapped[int] = _fk("connection.id", ondelete="CASCADE")
    trigger: Mapped[str] = mapped_column(sa.String(80))
    cursor: Mapped[dict[str, Any]] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RateLimitBucket(Base):
    """A connection's request budget shared by every billsync process on PostgreSQL: a token
    bucket plus the 429 cool-down (store/rate_limits.py). Times are the database server's
    epoch seconds, so processes on machines with different clocks agree."""

    __tablename__ = "rate_limit_bucket"

    #: the bucket's key: the connection id, as RateLimiters names it
    name: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    tokens: Mapped[float] = mapped_column(sa.Float)
    updated_at: Mapped[float] = mapped_column(sa.Float)
    #: no request before this (a 429's Retry-After)
    blocked_until: Mapped[float] = mapped_column(sa.Float)
    #: halvings of the rate in force since `penalized_at` (one undone per cool-down period)
    penalty_level: Mapped[int] = mapped_column(sa.Integer)
    penalized_at: Mapped[float] = mapped_column(sa.Float)


class PeriodicClaim(Base):
    """Who does a piece of periodic work (one poll target) for every process on the database,
    and until when: another process takes it over only once `due_at` has passed
    (store/periodic.py)."""

    __tablename__ = "periodic_claim"

    name: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(64))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LiveOwner(Base):
    """A lease owner (an embedded worker) that proves it is alive by holding a lock while it
    runs (store/liveness.py): a registered owner whose lock is free died, and its leases are
    released at once instead of expiring."""

    __tablename__ = "live_owner"

    owner: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookHint(Base):
    """An unsigned webhook's claim that an entity changed, stored before the delivery is
    acknowledged and resolved later (re-fetched, many per list call) into events. A
    redelivery of a pending hint inserts nothing; a resolved hint is deleted."""

    __tablename__ = "webhook_hint"
    __table_args__ = (sa.UniqueConstraint("connection_id", "kind", "entity_id", "hint"),)

    id: Mapped[int] = _id()
    connection_id: Mapped[int] = _fk("connection.id", ondelete="CASCADE")
    kind: Mapped[str] = mapped_column(sa.String(40))  #: "account", "invoice"
    entity_id: Mapped[str] = mapped_column(sa.String(255))
    #: the delivery's event name, normalised ("" when it named none)
    hint: Mapped[str] = mapped_column(sa.String(80))
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class HintClaim(Base):
    """Which process resolves a connection's webhook hints now, one round at a time for every
    process on the database (another takes the claim once `held_until` has passed: released,
    or its holder died), and when hints were last resolved for the connection, which the
    pollers of every process defer to (store/hint_claims.py)."""

    __tablename__ = "hint_claim"

    connection_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("connection.id", ondelete="CASCADE"), primary_key=True
    )
    holder: Mapped[str] = mapped_column(sa.String(64))
    held_until: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = _id()
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    #: "cli", "api:<token name>", "web", "system"
    actor: Mapped[str] = mapped_column(sa.String(120))
    #: verb.noun, e.g. "flow.enable", "run.replay", "vault.rotate"
    action: Mapped[str] = mapped_column(sa.String(80))
    target: Mapped[str] = mapped_column(sa.String(255))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    #: sha256 hex of the token; the token itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: UI sessions carry the epoch they were opened in; logging out increments it, which
    #: ends every session opened with this token (web/session.py).
    session_epoch: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")


class Reconciliation(Base):
    """One comparison of one Togai + Razorpay connection pair (engine/reconcile), its
    counts per state once finished, and who started it."""

    __tablename__ = "reconciliation"
    __table_args__ = (
        # The latest reconciliation of each pair (gauge, dashboard, schedule) by index.
        sa.Index(
            "ix_reconciliation_pair_id", "togai_connection_id", "razorpay_connection_id", "id"
        ),
    )

    id: Mapped[int] = _id()
    togai_connection_id: Mapped[int] = _fk("connection.id", ondelete="CASCADE")
    razorpay_connection_id: Mapped[int] = _fk("connection.id", ondelete="CASCADE")
    #: Compare only objects created at or after this time; None: everything.
    since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: running → succeeded | failed
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    #: What started it: "api", "ui", "schedule" or "cli".
    origin: Mapped[str] = mapped_column(sa.String(16))
    #: Who, as in the audit log ("api:<token name>", "web:<token name>", "schedule", "cli").
    actor: Mapped[str] = mapped_column(sa.String(120))
    #: The comparison's last progress note ("invoices", 1200), while it runs.
    progress: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    #: Items per state (every state present) once succeeded.
    summary: Mapped[dict[str, int] | None] = mapped_column(JSONType, nullable=True)
    #: Items compared, and of those not matched (orphans included).
    total: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    drift: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    #: Provider calls the comparison made, by app.
    calls: Mapped[dict[str, int] | None] = mapped_column(JSONType, nullable=True)
    error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Renewed with each progress note: a `running` row left behind by a stopped process
    #: stops moving, and is marked failed once it is stale.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ReconciliationItem(Base):
    """One compared object of a reconciliation (engine/reconcile/model.Item), and what a
    fix did for it: the event it stored and the runs that event started, or why not."""

    __tablename__ = "reconciliation_item"
    __table_args__ = (sa.Index("ix_reconciliation_item_state", "reconciliation_id", "state", "id"),)

    id: Mapped[int] = _id()
    reconciliation_id: Mapped[int] = _fk("reconciliation.id", ondelete="CASCADE")
    #: customer | invoice | payment
    kind: Mapped[str] = mapped_column(sa.String(16))
    state: Mapped[str] = mapped_column(sa.String(24))
    togai_id: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    razorpay_id: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    detail: Mapped[str] = mapped_column(sa.Text)
    #: What a fix would do, in words; None when nothing is safe to do.
    fix: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    fixed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    fix_event_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    fix_run_ids: Mapped[list[int] | None] = mapped_column(JSONType, nullable=True)
    #: Why the last fix did nothing (e.g. "no longer drifting").
    fix_skipped: Mapped[str | None] = mapped_column(sa.Text, nullable=True)


class ServedUrl(Base):
    """The public base URL the running (or last) `billsync serve` takes webhooks at, so
    commands in other processes (the CLI) show webhook URLs that reach it. One row."""

    __tablename__ = "served_url"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    url: Mapped[str] = mapped_column(sa.String(2048))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
