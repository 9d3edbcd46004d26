"""/api/v1/events: the inbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from billsync import errors
from billsync.api.auth import ActorDependency
from billsync.api.schemas.events import EventDetailPublic, EventPublic
from billsync.api.v1.errors import raise_for, responses
from billsync.api.v1.ids import MAX_ID
from billsync.app import App
from billsync.app import events as event_ops
from billsync.store.status import EventStatus

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=event_ops.MAX_PAGE)]
Before = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only ids below this one")]


def router(app: App, actor: ActorDependency) -> APIRouter:
    routes = APIRouter(tags=["events"], dependencies=[Depends(actor)])

    @routes.get("/events", response_model=list[EventPublic])
    async def list_events(
        connection_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        status: EventStatus | None = None,
        limit: Limit = 50,
        before_id: Before = None,
    ) -> list[EventPublic]:
        rows = await event_ops.list_events(
            app, limit=limit, before_id=before_id, connection_id=connection_id, status=status
        )
        return [EventPublic.of(e) for e in rows]

    @routes.get(
        "/events/{event_id}",
        response_model=EventDetailPublic,
        responses=responses(404),
    )
    async def get_event(event_id: Id) -> EventDetailPublic:
        """The event's payload and the runs it started."""
        try:
            return EventDetailPublic.of_detail(await event_ops.detail(app, event_id))
        except errors.SyncError as exc:
            raise_for(exc)

    return routes
