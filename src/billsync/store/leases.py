"""Leases on runs: claiming due runs (per-entity FIFO), renewing, checking and giving back
leases, and requeueing runs whose executor vanished.

A lease is taken by one conditional UPDATE (compare-and-set), so two executors racing on one
run cannot both win; the transitions out of `running` are in store/runs.py.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from billsync.store import dialect
from billsync.store.models import Run
from billsync.store.status import CLAIMABLE_RUN, UNFINISHED_RUN, RunStatus, status_values


def _claimable(now: datetime, limit: int = 1) -> sa.Select[int]:
    """The oldest due runs whose entity has no older unfinished run (per-entity FIFO); at
    most one per entity, since only an entity's oldest unfinished run qualifies."""
    older = aliased(Run)
    oldest_unfinished = (
        sa.select(sa.func.min(older.id))
        .where(older.entity_key == Run.entity_key, older.status.in_(status_values(UNFINISHED_RUN)))
        .scalar_subquery()
    )
    return (
        sa.select(Run.id)
        .where(
            Run.status.in_(status_values(CLAIMABLE_RUN)),
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
        .where(Run.id.in_(run_ids), Run.status.in_(status_values(CLAIMABLE_RUN)))
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
        Run.status.in_(status_values(CLAIMABLE_RUN)),
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
    return dialect.rowcount(result) == 1


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
    return dialect.rowcount(result)


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
