"""/api/v1/runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from billsync import errors
from billsync.api.auth import ActorDependency
from billsync.api.schemas.runs import RunDetailPublic, RunPublic
from billsync.api.v1.errors import raise_for, responses
from billsync.api.v1.ids import MAX_ID, IsoDateTime, as_utc
from billsync.app import App
from billsync.app import runs as run_ops
from billsync.store.status import RunStatus

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=run_ops.MAX_PAGE)]
Before = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only ids below this one")]


def router(app: App, actor: ActorDependency) -> APIRouter:
    routes = APIRouter(tags=["runs"], dependencies=[Depends(actor)])

    @routes.get("/runs", response_model=list[RunPublic])
    async def list_runs(
        status: RunStatus | None = None,
        flow_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        entity: Annotated[
            str | None, Query(max_length=255, description="Entity id or entity key")
        ] = None,
        since: Annotated[IsoDateTime | None, Query(description="Created at or after")] = None,
        until: Annotated[IsoDateTime | None, Query(description="Created before")] = None,
        limit: Limit = 50,
        before_id: Before = None,
    ) -> list[RunPublic]:
        """Newest first; page with `before_id` = the last id of the previous page."""
        query = run_ops.RunFilter(
            status=status,
            flow_id=flow_id,
            entity=entity,
            since=as_utc(since),
            until=as_utc(until),
            limit=limit,
            before_id=before_id,
        )
        return [RunPublic.of(r) for r in await run_ops.list_runs(app, query)]

    @routes.get("/runs/{run_id}", response_model=RunDetailPublic, responses=responses(404))
    async def get_run(run_id: Id) -> RunDetailPublic:
        """The run with each step's input, output, error and every attempt."""
        try:
            return RunDetailPublic.of_detail(await run_ops.detail(app, run_id))
        except errors.SyncError as exc:
            raise_for(exc)

    @routes.post("/runs/{run_id}/replay", response_model=RunPublic, responses=responses(404, 409))
    async def replay_run(run_id: Id, who: str = Depends(actor)) -> RunPublic:
        """Queue a failed or dead run again; it resumes at the step that failed."""
        try:
            return RunPublic.of(await run_ops.replay(app, run_id, actor=who))
        except errors.SyncError as exc:
            raise_for(exc)

    @routes.post("/runs/{run_id}/cancel", response_model=RunPublic, responses=responses(404, 409))
    async def cancel_run(run_id: Id, who: str = Depends(actor)) -> RunPublic:
        """Cancel a queued or waiting run."""
        try:
            return RunPublic.of(await run_ops.cancel(app, run_id, actor=who))
        except errors.SyncError as exc:
            raise_for(exc)

    return routes
