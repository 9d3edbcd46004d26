"""Runs: creation, reads and the run state machine (transitions from store/status.py only).

Every status change is one conditional UPDATE whose WHERE clause names the statuses it may
come from, so two executors racing on one run cannot both win. Claiming and leases live in
store/leases.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from billsync.store import dialect, events, prepared
from billsync.store.models import Event, FlowVersion, Run, RunStep
from billsync.store.status import (
    DONE_STEP,
    REPLAYABLE_RUN,
    EventStatus,
    RunStatus,
    sources_of,
    status_values,
)

# The hot-path statements are built once, with named parameters (see store/leases.py).
_RUN: sa.Table = Run.__table__  # type: ignore[assignment]  # declarative maps a Table

_CREATE = dialect.insert_if_new(_RUN, ["flow_id", "event_id"])

_LEAVE_RUNNING = (
    sa.update(_RUN)
    .where(
        _RUN.c.id == sa.bindparam("run_id"),
        _RUN.c.status == RunStatus.RUNNING.value,
        _RUN.c.lease_owner == sa.bindparam("owner"),
    )
    .values(
        {
            _RUN.c.lease_owner: None,
            _RUN.c.lease_expires_at: None,
            **{
                c: sa.bindparam(f"b_{c.key}", type_=c.type)
                for c in (
                    _RUN.c.status,
                    _RUN.c.last_error,
                    _RUN.c.next_attempt_at,
                    _RUN.c.finished_at,
                    _RUN.c.updated_at,
                )
            },
        }
    )
)


_EVENT: sa.Table = Event.__table__  # type: ignore[assignment]
_VERSION: sa.Table = FlowVersion.__table__  # type: ignore[assignment]

#: what a runner reads before executing a run, in one statement
_EXECUTION = (
    sa.select(
        _RUN.c.flow_id,
        _RUN.c.flow_version,
        _RUN.c.event_id,
        _EVENT.c.id,
        _EVENT.c.payload,
        _VERSION.c.id,
        _VERSION.c.created_at,
    )
    .select_from(
        _RUN.outerjoin(_EVENT, _EVENT.c.id == _RUN.c.event_id).outerjoin(
            _VERSION,
            sa.and_(
                _VERSION.c.flow_id == _RUN.c.flow_id, _VERSION.c.version == _RUN.c.flow_version
            ),
        )
    )
    .where(_RUN.c.id == sa.bindparam("run_id"))
)


class Execution(NamedTuple):
    """A run as its executor needs it."""

    #: not attached to a session: id, flow_id, flow_version and event_id are set
    run: Run
    #: the event's payload; None when the event is gone
    payload: dict[str, Any] | None
    #: the flow version's (id, created_at), as flows.version_stamp; None when it is gone
    stamp: tuple[int, datetime] | None


async def execution(session: AsyncSession, run_id: int) -> Execution | None:
    """The run, its event's payload and its flow version's stamp; None if no such run."""
    row = (await prepared.run(session, _EXECUTION, {"run_id": run_id})).first()
    if row is None:
        return None
    flow_id, flow_version, event_id, found_event, payload, version_id, created_at = row
    run = Run(id=run_id, flow_id=flow_id, flow_version=flow_version, event_id=event_id)
    stamp = None if version_id is None else (int(version_id), created_at)
    return Execution(run, payload if found_event is not None else None, stamp)


async def create(
    session: AsyncSession,
    *,
    flow_id: int,
    flow_version: int,
    event_id: int,
    entity_key: str,
    now: datetime,
) -> Run | None:
    """Queue a run; None if the (flow, event) pair already has one (design invariant 2)."""
    run_id = await create_id(
        session,
        flow_id=flow_id,
        flow_version=flow_version,
        event_id=event_id,
        entity_key=entity_key,
        now=now,
    )
    return None if run_id is None else await session.get(Run, run_id)


async def create_id(
    session: AsyncSession,
    *,
    flow_id: int,
    flow_version: int,
    event_id: int,
    entity_key: str,
    now: datetime,
) -> int | None:
    """`create` without loading the row back: the new run's id, or None."""
    result = await prepared.run(
        session,
        _CREATE[dialect.name(session)],
        {
            "flow_id": flow_id,
            "flow_version": flow_version,
            "event_id": event_id,
            "entity_key": entity_key,
            "status": RunStatus.QUEUED.value,
            "attempt": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        },
    )
    run_id = result.scalar_one_or_none()
    return None if run_id is None else int(run_id)


async def get(session: AsyncSession, run_id: int, *, fresh: bool = False) -> Run | None:
    """The run; `fresh` re-reads it even if this session already loaded it."""
    return await session.get(Run, run_id, populate_existing=fresh)


async def list_recent(
    session: AsyncSession,
    *,
    limit: int = 50,
    before_id: int | None = None,
    status: RunStatus | None = None,
    flow_id: int | None = None,
    entity_key: str | None = None,
    entity_id: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> Sequence[Run]:
    """Newest first. `entity_id` matches the id part of the entity key ("togai-account:ID")
    or the whole key; `created_from` is inclusive, `created_to` exclusive."""
    stmt = sa.select(Run).order_by(Run.id.desc()).limit(limit)
    if entity_id is not None:
        by_id = Run.entity_key.endswith(":" + entity_id, autoescape=True)
        stmt = stmt.where(sa.or_(Run.entity_key == entity_id, by_id))
    if created_from is not None:
        stmt = stmt.where(Run.created_at >= created_from)
    if created_to is not None:
        stmt = stmt.where(Run.created_at < created_to)
    if before_id is not None:
        stmt = stmt.where(Run.id < before_id)
    if status is not None:
        stmt = stmt.where(Run.status == status.value)
    if flow_id is not None:
        stmt = stmt.where(Run.flow_id == flow_id)
    if entity_key is not None:
        stmt = stmt.where(Run.entity_key == entity_key)
    return (await session.execute(stmt)).scalars().all()


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    stmt = sa.select(Run.status, sa.func.count()).group_by(Run.status)
    return {status: int(n) for status, n in (await session.execute(stmt)).all()}


async def queued_at_least(session: AsyncSession, limit: int) -> int:
    """Queued runs, counted up to `limit` (an index range scan: cheap at any backlog)."""
    head = sa.select(sa.literal(1)).where(Run.status == RunStatus.QUEUED).limit(limit).subquery()
    return int((await session.execute(sa.select(sa.func.count()).select_from(head))).scalar_one())


async def statuses(session: AsyncSession, run_ids: Sequence[int]) -> dict[int, str]:
    """The status of each of these runs (absent ids are left out), 500 ids a statement."""
    found: dict[int, str] = {}
    for start in range(0, len(run_ids), 500):
        chunk = list(run_ids[start : start + 500])
        stmt = sa.select(Run.id, Run.status).where(Run.id.in_(chunk))
        found.update({int(i): str(s) for i, s in (await session.execute(stmt)).all()})
    return found


async def for_event(session: AsyncSession, event_id: int) -> Sequence[Run]:
    stmt = sa.select(Run).where(Run.event_id == event_id).order_by(Run.id)
    return (await session.execute(stmt)).scalars().all()


async def _leave_running(
    session: AsyncSession,
    run_id: int,
    *,
    owner: str,
    target: RunStatus,
    now: datetime,
    error: str | None = None,
    next_attempt_at: datetime | None = None,
    finished: bool = False,
) -> bool:
    if RunStatus.RUNNING not in sources_of(target):
        raise ValueError(f"a running run cannot become {target}")
    result = await prepared.run(
        session,
        _LEAVE_RUNNING,
        {
            "run_id": run_id,
            "owner": owner,
            "b_status": target.value,
            "b_last_error": error,
            "b_next_attempt_at": next_attempt_at,
            "b_finished_at": now if finished else None,
            "b_updated_at": now,
        },
    )
    return dialect.rowcount(result) == 1


async def succeed(session: AsyncSession, run_id: int, *, owner: str, now: datetime) -> bool:
    return await _leave_running(
        session, run_id, owner=owner, target=RunStatus.SUCCEEDED, now=now, finished=True
    )


async def fail(
    session: AsyncSession, run_id: int, *, owner: str, now: datetime, error: str, dead: bool
) -> bool:
    target = RunStatus.DEAD if dead else RunStatus.FAILED
    return await _leave_running(
        session, run_id, owner=owner, target=target, now=now, error=error, finished=True
    )


async def schedule_retry(
    session: AsyncSession, run_id: int, *, owner: str, now: datetime, at: datetime, error: str
) -> bool:
    return await _leave_running(
        session,
        run_id,
        owner=owner,
        target=RunStatus.RETRY_WAIT,
        now=now,
        error=error,
        next_attempt_at=at,
    )


async def replay(session: AsyncSession, run_id: int, *, now: datetime) -> bool:
    """Queue a failed or dead run again; it resumes at the step that did not succeed."""
    result = await session.execute(
        sa.update(Run)
        .where(Run.id == run_id, Run.status.in_(status_values(REPLAYABLE_RUN)))
        .values(
            status=RunStatus.QUEUED.value,
            next_attempt_at=now,
            finished_at=None,
            updated_at=now,
        )
    )
    if dialect.rowcount(result) != 1:
        return False
    # A replay gets a fresh retry budget for the steps still to do.
    await session.execute(
        sa.update(RunStep)
        .where(RunStep.run_id == run_id, RunStep.status.not_in([s.value for s in DONE_STEP]))
        .values(attempts=0)
    )
    event_id = sa.select(Run.event_id).where(Run.id == run_id).scalar_subquery()
    await session.execute(
        sa.update(Event)
        .where(Event.id == event_id, Event.status == EventStatus.PROCESSED.value)
        .values(status=EventStatus.RECEIVED.value)
    )
    return True


async def cancel(session: AsyncSession, run_id: int, *, now: datetime) -> bool:
    result = await session.execute(
        sa.update(Run)
        .where(Run.id == run_id, Run.status.in_(status_values(sources_of(RunStatus.CANCELLED))))
        .values(
            status=RunStatus.CANCELLED.value,
            next_attempt_at=None,
            finished_at=now,
            updated_at=now,
        )
    )
    if dialect.rowcount(result) != 1:
        return False
    event_id = (await session.execute(sa.select(Run.event_id).where(Run.id == run_id))).scalar_one()
    await events.mark_processed_if_done(session, event_id)
    return True
