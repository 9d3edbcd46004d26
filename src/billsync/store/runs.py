"""Runs: the queue and the run state machine (transitions from store/status.py only).

Every status change is one conditional UPDATE whose WHERE clause names the statuses it may
come from, so two executors racing on one run cannot both win (the lease compare-and-set).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from billsync.store import dialect, events
from billsync.store.models import Event, Run, RunStep
from billsync.store.status import (
    CLAIMABLE_RUN,
    DONE_STEP,
    REPLAYABLE_RUN,
    UNFINISHED_RUN,
    EventStatus,
    RunStatus,
    sources_of,
)


def _values(statuses: Collection[RunStatus]) -> list[str]:
    return sorted(s.value for s in statuses)


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


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
    stmt = (
        dialect.insert(session, Run)
        .values(
            flow_id=flow_id,
            flow_version=flow_version,
            event_id=event_id,
            entity_key=entity_key,
            status=RunStatus.QUEUED.value,
            attempt=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["flow_id", "event_id"])
        .returning(Run.id)
    )
    run_id = (await session.execute(stmt)).scalar_one_or_none()
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


async def for_event(session: AsyncSession, event_id: int) -> Sequence[Run]:
    stmt = sa.select(Run).where(Run.event_id == event_id).order_by(Run.id)
    return (await session.execute(stmt)).scalars().all()


def _claimable(now: datetime, limit: int = 1) -> sa.Select[int]:
    """The oldest due runs whose entity has no older unfinished run (per-entity FIFO); at
    most one per entity, since only an entity's oldest unfinished run qualifies."""
    older = aliased(Run)
    oldest_unfinished = (
        sa.select(sa.func.min(older.id))
        .where(older.entity_key == Run.entity_key, older.status.in_(_values(UNFINISHED_RUN)))
        .scalar_subquery()
    )
    return (
        sa.select(Run.id)
        .where(
            Run.status.in_(_values(CLAIMABLE_RUN)),
            sa.or_(Run.next_attempt_at.is_(None), Run.next_attempt_at <= now),
            Run.id == oldest_unfinished,
        )
        .order_by(Run.id)
        .limit(limit)
    )


async def next_claimable(session: AsyncSession, *, now: datetime) -> int | None:
    """The run a claim would take now, without taking it."""
    return (await session.execute(_claimable(now))).scalar_one_or_none()


async def has_work(session: AsyncSession, *, now: datetime) -> bool:
    """Whether any run is executing or could be claimed now."""
    running = sa.select(Run.id).where(Run.status == RunStatus.RUNNING.value).limit(1)
    if (await session.execute(running)).first() is not None:
        return True
    return await next_claimable(session, now=now) is not None


async def claim_next(
    session: AsyncSession, *, owner: str, now: datetime, lease_seconds: float
) -> int | None:
    """Lease the oldest due run whose entity has no older unfinished run (per-entity FIFO)."""
    claimed = await claim_many(session, owner=owner, now=now, lease_seconds=lease_seconds, limit=1)
    return claimed[0] if claimed else None


async def claim_many(
    session: AsyncSession, *, owner: str, now: datetime, lease_seconds: float, limit: int
) -> list[int]:
    """Lease up to `limit` due runs, oldest first, at most one per entity (per-entity FIFO).

    Call inside a write transaction: on SQLite that is BEGIN IMMEDIATE, which serialises
    claimers; on PostgreSQL the candidate rows are locked with FOR UPDATE SKIP LOCKED, and a
    concurrent claimer's snapshot still counts them as unfinished, so the next run of the
    same entity is never a candidate while this one is queued or running.
    """
    if limit < 1:
        return []
    candidate = _claimable(now, limit)
    if dialect.name(session) == "postgresql":
        candidate = candidate.with_for_update(skip_locked=True)
    run_ids = list((await session.execute(candidate)).scalars().all())
    if not run_ids:
        return []
    result = await session.execute(
        sa.update(Run)
        .where(Run.id.in_(run_ids), Run.status.in_(_values(CLAIMABLE_RUN)))
        .values(
            status=RunStatus.RUNNING.value,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempt=Run.attempt + 1,
            updated_at=now,
        )
        .returning(Run.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(result.scalars().all())


async def take_lease(
    session: AsyncSession, run_id: int, *, owner: str, now: datetime, lease_seconds: float
) -> bool:
    """Compare-and-set the lease: succeeds if the run is due and claimable, already leased by
    `owner` (a worker claimed it for us), or leased by someone whose lease has expired."""
    already_mine = sa.and_(Run.status == RunStatus.RUNNING.value, Run.lease_owner == owner)
    expired = sa.and_(Run.status == RunStatus.RUNNING.value, Run.lease_expires_at < now)
    due = sa.and_(
        Run.status.in_(_values(CLAIMABLE_RUN)),
        sa.or_(Run.next_attempt_at.is_(None), Run.next_attempt_at <= now),
    )
    result = await session.execute(
        sa.update(Run)
        .where(Run.id == run_id, sa.or_(already_mine, expired, due))
        .values(
            status=RunStatus.RUNNING.value,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempt=sa.case((already_mine, Run.attempt), else_=Run.attempt + 1),
            updated_at=now,
        )
    )
    return _rowcount(result) == 1


async def renew_leases(
    session: AsyncSession,
    run_ids: Collection[int],
    *,
    owner: str,
    now: datetime,
    lease_seconds: float,
) -> set[int]:
    """Extend the leases `owner` still holds; returns the ids it still holds."""
    if not run_ids:
        return set()
    where = (
        Run.id.in_(list(run_ids)),
        Run.status == RunStatus.RUNNING.value,
        Run.lease_owner == owner,
    )
    held = await session.execute(
        sa.update(Run)
        .where(*where)
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now)
        .returning(Run.id)
        .execution_options(synchronize_session=False)
    )
    return set(held.scalars().all())


async def holds_lease(session: AsyncSession, run_id: int, *, owner: str, now: datetime) -> bool:
    stmt = sa.select(Run.id).where(
        Run.id == run_id,
        Run.status == RunStatus.RUNNING.value,
        Run.lease_owner == owner,
        Run.lease_expires_at >= now,
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


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
    result = await session.execute(
        sa.update(Run)
        .where(Run.id == run_id, Run.status == RunStatus.RUNNING.value, Run.lease_owner == owner)
        .values(
            status=target.value,
            lease_owner=None,
            lease_expires_at=None,
            last_error=error,
            next_attempt_at=next_attempt_at,
            finished_at=now if finished else None,
            updated_at=now,
        )
    )
    return _rowcount(result) == 1


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


async def release(
    session: AsyncSession, run_ids: Collection[int], *, owner: str, now: datetime
) -> int:
    """Give leased runs back to the queue (graceful shutdown), due at once."""
    if not run_ids:
        return 0
    result = await session.execute(
        sa.update(Run)
        .where(
            Run.id.in_(list(run_ids)),
            Run.status == RunStatus.RUNNING.value,
            Run.lease_owner == owner,
        )
        .values(
            status=RunStatus.QUEUED.value,
            lease_owner=None,
            lease_expires_at=None,
            next_attempt_at=now,
            updated_at=now,
        )
    )
    return _rowcount(result)


async def release_held(session: AsyncSession, *, owner: str, now: datetime) -> list[int]:
    """Give back every run `owner` still leases (graceful shutdown); their ids.

    Covers runs a claim leased just as shutdown cancelled it, which never reached a slot."""
    held = list(
        (
            await session.execute(
                sa.select(Run.id).where(
                    Run.status == RunStatus.RUNNING.value, Run.lease_owner == owner
                )
            )
        ).scalars()
    )
    await release(session, held, owner=owner, now=now)
    return held


async def reconcile_expired(session: AsyncSession, *, now: datetime) -> list[int]:
    """Return runs whose executor vanished (lease expired) to the queue; their ids."""
    expired = (
        (
            await session.execute(
                sa.select(Run.id).where(
                    Run.status == RunStatus.RUNNING.value, Run.lease_expires_at < now
                )
            )
        )
        .scalars()
        .all()
    )
    if not expired:
        return []
    await session.execute(
        sa.update(Run)
        .where(
            Run.id.in_(expired),
            Run.status == RunStatus.RUNNING.value,
            Run.lease_expires_at < now,
        )
        .values(
            status=RunStatus.QUEUED.value,
            lease_owner=None,
            lease_expires_at=None,
            next_attempt_at=now,
            updated_at=now,
        )
    )
    return list(expired)


async def replay(session: AsyncSession, run_id: int, *, now: datetime) -> bool:
    """Queue a failed or dead run again; it resumes at the step that did not succeed."""
    result = await session.execute(
        sa.update(Run)
        .where(Run.id == run_id, Run.status.in_(_values(REPLAYABLE_RUN)))
        .values(
            status=RunStatus.QUEUED.value,
            next_attempt_at=now,
            finished_at=None,
            updated_at=now,
        )
    )
    if _rowcount(result) != 1:
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
        .where(Run.id == run_id, Run.status.in_(_values(sources_of(RunStatus.CANCELLED))))
        .values(
            status=RunStatus.CANCELLED.value,
            next_attempt_at=None,
            finished_at=now,
            updated_at=now,
        )
    )
    if _rowcount(result) != 1:
        return False
    event_id = (await session.execute(sa.select(Run.event_id).where(Run.id == run_id))).scalar_one()
    await events.mark_processed_if_done(session, event_id)
    return True
