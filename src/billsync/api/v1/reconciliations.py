"""/api/v1/reconciliations: start a comparison of both sides, read its report, fix items."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from billsync import errors
from billsync.api.auth import ActorDependency
from billsync.api.schemas.reconciliations import (
    FixOutcomePublic,
    FixRequest,
    FixResultsPublic,
    ItemPublic,
    ReconciliationCreate,
    ReconciliationDetailPublic,
    ReconciliationPublic,
    ReconciliationStarted,
)
from billsync.api.v1.errors import raise_for, responses
from billsync.api.v1.ids import MAX_ID, as_utc
from billsync.app import App
from billsync.app import reconciliation_reports as ops
from billsync.engine.reconcile.model import ItemKind, ItemState
from billsync.store.models import Reconciliation
from billsync.store.reconciliations import Origin

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
ConnectionId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
States = Annotated[list[ItemState] | None, Query(description="Only items in these states")]
Kinds = Annotated[list[ItemKind] | None, Query(description="Only items of these kinds")]
ItemsAfter = Annotated[
    int | None,
    Query(
        ge=1,
        le=MAX_ID,
        description="Only items after this id (the previous page's `next_item_after`)",
    ),
]
ItemsLimit = Annotated[int, Query(ge=1, le=ops.MAX_PAGE)]


def router(app: App, actor: ActorDependency) -> APIRouter:
    routes = APIRouter(tags=["reconciliations"], dependencies=[Depends(actor)])
    service = app.reconciliations

    async def detail(
        row: Reconciliation,
        state: list[ItemState] | None,
        kind: list[ItemKind] | None,
        items_after: int | None,
        items_limit: int,
    ) -> ReconciliationDetailPublic:
        page = await service.items(
            row.id,
            states=state or (),
            kinds=kind or (),
            after_id=items_after,
            limit=items_limit,
        )
        return ReconciliationDetailPublic(
            **ReconciliationPublic.of(row).model_dump(),
            items=[ItemPublic.of(i) for i in page.items],
            next_item_after=page.next_after,
        )

    @routes.post(
        "/reconciliations",
        status_code=202,
        response_model=ReconciliationStarted,
        responses=responses(400, 409, 422),
    )
    async def start_reconciliation(
        body: ReconciliationCreate, who: str = Depends(actor)
    ) -> ReconciliationStarted:
        """Compare both sides in the background, for one pair (both connection ids) or
        every pair that enabled flows bind (neither). Writes nothing to either provider;
        poll GET /reconciliations/{id} until its status is no longer `running`. 409 when
        an id names no connection or one of the other app, or (neither given) no enabled
        flow binds a pair: what is stored decides."""
        try:
            rows = await service.start(
                togai_connection_id=body.togai_connection_id,
                razorpay_connection_id=body.razorpay_connection_id,
                since=as_utc(body.since),
                origin=Origin.API,
                actor=who,
            )
        except errors.SyncError as exc:
            raise_for(exc)
        return ReconciliationStarted(id=rows[0].id, ids=[r.id for r in rows], status=rows[0].status)

    @routes.get("/reconciliations", response_model=list[ReconciliationPublic])
    async def list_reconciliations(
        togai_connection_id: ConnectionId = None,
        razorpay_connection_id: ConnectionId = None,
        limit: Annotated[int, Query(ge=1, le=ops.MAX_PAGE)] = 50,
        before_id: Annotated[
            int | None, Query(ge=1, le=MAX_ID, description="Only ids below this one")
        ] = None,
    ) -> list[ReconciliationPublic]:
        """Newest first, without items; page with `before_id`."""
        rows = await service.list_recent(
            togai_connection_id=togai_connection_id,
            razorpay_connection_id=razorpay_connection_id,
            limit=limit,
            before_id=before_id,
        )
        return [ReconciliationPublic.of(r) for r in rows]

    # Declared before /reconciliations/{reconciliation_id}, which would not match "latest"
    # anyway (ids are integers), so the order only keeps the two readable side by side.
    @routes.get(
        "/reconciliations/latest",
        response_model=ReconciliationDetailPublic,
        responses=responses(404),
    )
    async def latest_reconciliation(
        togai_connection_id: ConnectionId = None,
        razorpay_connection_id: ConnectionId = None,
        state: States = None,
        kind: Kinds = None,
        items_after: ItemsAfter = None,
        items_limit: ItemsLimit = 100,
    ) -> ReconciliationDetailPublic:
        """The newest reconciliation (of a pair, or of either connection), with a page of
        its items."""
        try:
            row = await service.latest(
                togai_connection_id=togai_connection_id,
                razorpay_connection_id=razorpay_connection_id,
            )
        except errors.SyncError as exc:
            raise_for(exc)
        return await detail(row, state, kind, items_after, items_limit)

    @routes.get(
        "/reconciliations/{reconciliation_id}",
        response_model=ReconciliationDetailPublic,
        responses=responses(404),
    )
    async def get_reconciliation(
        reconciliation_id: Id,
        state: States = None,
        kind: Kinds = None,
        items_after: ItemsAfter = None,
        items_limit: ItemsLimit = 100,
    ) -> ReconciliationDetailPublic:
        """Its status and counts per state, with a page of items in report order
        (filter by state and kind)."""
        try:
            row = await service.get(reconciliation_id)
        except errors.SyncError as exc:
            raise_for(exc)
        return await detail(row, state, kind, items_after, items_limit)

    @routes.post(
        "/reconciliations/{reconciliation_id}/fix",
        response_model=FixResultsPublic,
        responses=responses(400, 404, 409, 422),
    )
    async def fix_items(
        reconciliation_id: Id, body: FixRequest, who: str = Depends(actor)
    ) -> FixResultsPublic:
        """Repair the selected items through ordinary runs: each is re-read at both
        providers, then one event per item is stored and runs as any event would. Answers
        each item's event and runs, or why nothing was done. Never deletes, refunds or
        touches an orphan (those items have no fix and are refused). 409 for an item of
        another reconciliation or without a safe fix."""
        try:
            outcomes = await service.fix(reconciliation_id, body.item_ids, actor=who)
        except errors.SyncError as exc:
            raise_for(exc)
        return FixResultsPublic(results=[FixOutcomePublic.of(o) for o in outcomes])

    return routes
