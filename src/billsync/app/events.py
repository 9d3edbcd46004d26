"""The inbox as faces read it: recent events and one event with the runs it started."""

from __future__ import annotations

from dataclasses import dataclass

from billsync import errors
from billsync.app.root import App
from billsync.store import events, runs
from billsync.store.models import Event, Run
from billsync.store.status import EventStatus

MAX_PAGE = 200


class EventNotFoundError(errors.SyncError):
    """No event has that id."""


@dataclass(frozen=True)
class EventDetail:
    event: Event
    runs: list[Run]


async def list_events(
    app: App,
    *,
    limit: int = 50,
    before_id: int | None = None,
    connection_id: int | None = None,
    status: EventStatus | None = None,
) -> list[Event]:
    async with app.db.read() as session:
        rows = await events.list_recent(
            session,
            limit=max(1, min(limit, MAX_PAGE)),
            before_id=before_id,
            connection_id=connection_id,
            status=status,
        )
    return list(rows)


async def detail(app: App, event_id: int) -> EventDetail:
    async with app.db.read() as session:
        event = await events.get(session, event_id)
        if event is None:
            raise EventNotFoundError(f"no event {event_id}")
        started = await runs.for_event(session, event_id)
    return EventDetail(event=event, runs=list(started))
