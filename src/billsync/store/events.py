"""The inbox: events stored once per (connection, external id)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from billsync.domain import IncomingEvent
from billsync.store import dialect, prepared
from billsync.store.models import Event, Run
from billsync.store.status import FINAL_RUN, EventStatus

#: Ids per IN (...) list: well under SQLite's bound-parameter limit.
_CHUNK = 500

# The hot-path statements are built once, with named parameters (see store/leases.py).
_EVENT: sa.Table = Event.__table__  # type: ignore[assignment]  # declarative maps a Table
_RUN: sa.Table = Run.__table__  # type: ignore[assignment]

_INSERT = dialect.insert_if_new(_EVENT, ["connection_id", "external_id"])


def _mark_processed_stmt() -> sa.Update:
    """Parameter: event_id."""
    event_id = sa.bindparam("event_id", type_=_EVENT.c.id.type)
    unfinished = (
        sa.select(_RUN.c.id)
        .where(_RUN.c.event_id == event_id, _RUN.c.status.not_in([s.value for s in FINAL_RUN]))
        .exists()
    )
    return (
        sa.update(_EVENT)
        .where(_EVENT.c.id == event_id, _EVENT.c.status == EventStatus.RECEIVED.value, ~unfinished)
        .values(status=EventStatus.PROCESSED.value)
    )


_MARK_PROCESSED = _mark_processed_stmt()


async def insert(
    session: AsyncSession,
    connection_id: int,
    incoming: IncomingEvent,
    *,
    now: datetime,
    status: EventStatus = EventStatus.RECEIVED,
) -> Event | None:
    """Store the event; None when it is a duplicate (provider retry, webhook + poll)."""
    event_id = await insert_id(session, connection_id, incoming, now=now, status=status)
    if event_id is None:
        return None
    return await session.get(Event, event_id)


async def insert_id(
    session: AsyncSession,
    connection_id: int,
    incoming: IncomingEvent,
    *,
    now: datetime,
    status: EventStatus = EventStatus.RECEIVED,
) -> int | None:
    """`insert` without loading the row back: the new event's id, or None (duplicate)."""
    result = await prepared.run(
        session,
        _INSERT[dialect.name(session)],
        {
            "connection_id": connection_id,
            "trigger": incoming.trigger,
            "event_type": incoming.event_type,
            "external_id": incoming.external_id,
            "entity_key": incoming.entity_key,
            "payload": incoming.payload,
            "status": status.value,
            "occurred_at": incoming.occurred_at,
            "received_at": now,
        },
    )
    event_id = result.scalar_one_or_none()
    return None if event_id is None else int(event_id)


async def get(session: AsyncSession, event_id: int) -> Event | None:
    return await session.get(Event, event_id)


async def known_external_ids(
    session: AsyncSession, connection_id: int, external_ids: Sequence[str]
) -> set[str]:
    """Those of `external_ids` already stored for the connection."""
    found: set[str] = set()
    for start in range(0, len(external_ids), _CHUNK):
        chunk = list(external_ids[start : start + _CHUNK])
        stmt = sa.select(Event.external_id).where(
            Event.connection_id == connection_id, Event.external_id.in_(chunk)
        )
        found.update((await session.execute(stmt)).scalars().all())
    return found


async def by_external_id(
    session: AsyncSession, connection_id: int, external_id: str
) -> Event | None:
    stmt = sa.select(Event).where(
        Event.connection_id == connection_id, Event.external_id == external_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_recent(
    session: AsyncSession,
    *,
    limit: int = 50,
    before_id: int | None = None,
    connection_id: int | None = None,
    status: EventStatus | None = None,
) -> Sequence[Event]:
    stmt = sa.select(Event).order_by(Event.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(Event.id < before_id)
    if connection_id is not None:
        stmt = stmt.where(Event.connection_id == connection_id)
    if status is not None:
        stmt = stmt.where(Event.status == status.value)
    return (await session.execute(stmt)).scalars().all()


async def set_status(session: AsyncSession, event_id: int, status: EventStatus) -> None:
    await session.execute(sa.update(Event).where(Event.id == event_id).values(status=status.value))


async def mark_processed_if_done(session: AsyncSession, event_id: int) -> bool:
    """Mark the event processed once every run it started is final."""
    result = await prepared.run(session, _MARK_PROCESSED, {"event_id": event_id})
    return bool(dialect.rowcount(result))
