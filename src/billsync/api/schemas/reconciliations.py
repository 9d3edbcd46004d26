"""Reconciliations, their items and fixes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from billsync.api.schemas.common import Id
from billsync.app.reconciliation_fixes import MAX_FIX, FixOutcome
from billsync.store.models import Reconciliation, ReconciliationItem


class ReconciliationCreate(BaseModel):
    """Both connection ids for one pair, or neither for every pair that enabled flows bind."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "dependentRequired": {
                "togai_connection_id": ["razorpay_connection_id"],
                "razorpay_connection_id": ["togai_connection_id"],
            }
        },
    )

    togai_connection_id: Id | None = None
    razorpay_connection_id: Id | None = None
    #: Compare only objects created at or after this time (a date means its midnight UTC).
    since: datetime | None = None


class ReconciliationStarted(BaseModel):
    """`id`: the reconciliation started (the first, when several pairs were); `ids`: one
    per pair. A pair already being reconciled answers with its running reconciliation."""

    id: int
    ids: list[int]
    status: str


class FixRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_ids: list[Id] = Field(min_length=1, max_length=MAX_FIX)


class ItemPublic(BaseModel):
    """One compared object (`kind`, `state`, `togai_id`, `razorpay_id`, `detail`, `fix`
    as `billsync reconcile --json` prints them), and what a fix did: the event it stored
    and the runs that event started, or why it did nothing."""

    id: int
    kind: str
    state: str
    togai_id: str | None
    razorpay_id: str | None
    detail: str
    fix: str | None
    fixed_at: datetime | None
    fix_event_id: int | None
    fix_run_ids: list[int]
    fix_skipped: str | None

    @classmethod
    def of(cls, row: ReconciliationItem) -> ItemPublic:
        return cls(
            id=row.id,
            kind=row.kind,
            state=row.state,
            togai_id=row.togai_id,
            razorpay_id=row.razorpay_id,
            detail=row.detail,
            fix=row.fix,
            fixed_at=row.fixed_at,
            fix_event_id=row.fix_event_id,
            fix_run_ids=list(row.fix_run_ids or []),
            fix_skipped=row.fix_skipped,
        )


class ReconciliationPublic(BaseModel):
    id: int
    togai_connection_id: int
    razorpay_connection_id: int
    since: datetime | None
    #: running, succeeded or failed
    status: str
    #: api, ui, schedule or cli
    origin: str
    actor: str
    progress: str | None
    #: Items per state, every state present; null until it succeeded.
    summary: dict[str, int] | None
    total: int | None
    #: Items not matched (orphans included).
    drift: int | None
    #: Provider calls made, by app.
    calls: dict[str, int] | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, row: Reconciliation) -> ReconciliationPublic:
        return cls(
            id=row.id,
            togai_connection_id=row.togai_connection_id,
            razorpay_connection_id=row.razorpay_connection_id,
            since=row.since,
            status=row.status,
            origin=row.origin,
            actor=row.actor,
            progress=row.progress,
            summary=row.summary,
            total=row.total,
            drift=row.drift,
            calls=row.calls,
            error=row.error,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )


class ReconciliationDetailPublic(ReconciliationPublic):
    """With one page of items; pass `next_item_after` as `items_after` for the next."""

    items: list[ItemPublic]
    next_item_after: int | None


class FixOutcomePublic(BaseModel):
    item_id: int
    event_id: int | None
    run_ids: list[int]
    skipped: str | None

    @classmethod
    def of(cls, outcome: FixOutcome) -> FixOutcomePublic:
        return cls(
            item_id=outcome.item_id,
            event_id=outcome.event_id,
            run_ids=list(outcome.run_ids),
            skipped=outcome.skipped,
        )


class FixResultsPublic(BaseModel):
    results: list[FixOutcomePublic]
