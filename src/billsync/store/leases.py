"""Leases on runs: claiming due runs (per-entity FIFO), renewing, checking and giving back
leases, and requeueing runs whose executor vanished.

A lease is taken by one conditional UPDATE (compare-and-set), so two executors racing on one
run cannot both win; the transitions out of `running` are in store/runs.py.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from billsync.store import dialect, prepared
from billsync.store.models import Run
from billsync.store.status import CLAIMABLE_RUN, UNFINISHED_RUN, RunStatus, status_values

# The hot-path statements are built once, as Core statements over the table with named
# parameters: building, ORM compile state and the cache key are paid at import, not per call.
_RUN: sa.Table = Run.__table__  # type: ignore[assignment]  # declarative maps a Table
_RUNNING = RunStatus.RUNNING.value


def _bind(name: str, column: sa.Column[object]) -> sa.BindParameter[object]:
    """A parameter typed like `column` (for SET values, where no comparison gives it one)."""
    return sa.bindparam(name, type_=column.type)


def _claimable_stmt(
    statuses: Sequence[str] = tuple(status_values(CLAIMABLE_RUN)),
) -> sa.Select[int]:
    """The oldest due runs whose entity has no older unfinished run (per-entity FIFO); at
    most one per entity, since only an entity's oldest unfinished run qualifies.
    Parameters: now, limit."""
    older = _RUN.alias("run_1")
    oldest_unfinished = (
        sa.select(sa.func.min(older.c.id))
        .where(
            older.c.entity_key == _RUN.c.entity_key,
            older.c.status.in_(status_values(UNFINISHED_RUN)),
        )
        .scalar_subquery()
    )
    return (
        sa.select(_RUN.c.id)
        .where(
            _RUN.c.status.in_(statuses) if len(statuses) > 1 else _RUN.c.status == statuses[0],
            sa.or_(_RUN.c.next_attempt_at.is_(None), _RUN.c.next_attempt_at <= sa.bindparam("now")),
            _RUN.c.id == oldest_unfinished,
        )
        .order_by(_RUN.c.id)
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )


def _claimable_sqlite_stmt() -> sa.Select[int]:
    """The same candidates, as one id-ordered, limited scan per claimable status (on the
    (status, id) index) merged: SQLite otherwise gathered every queued run, ran the FIFO
    subquery for each and sorted them all, 2.9 ms per claim with 2,000 runs queued against
    0.1 ms this way. Parameters: now, limit."""
    limit = sa.bindparam("limit", type_=sa.Integer)
    scans = [_claimable_stmt((status,)).subquery() for status in status_values(CLAIMABLE_RUN)]
    merged = sa.union_all(*(sa.select(scan.c.id) for scan in scans)).subquery()
    return sa.select(merged.c.id).order_by(merged.c.id).limit(limit)


_CLAIMABLE = _claimable_sqlite_stmt()
#: PostgreSQL: concurrent claimers skip each other's candidates instead of waiting.
_CLAIMABLE_PG = _claimable_stmt().with_for_update(skip_locked=True)


def _claim_stmt(which: sa.ColumnElement[bool]) -> sa.Update:
    return (
        sa.update(_RUN)
        .where(which, _RUN.c.status.in_(status_values(CLAIMABLE_RUN)))
        .values(
            status=_RUNNING,
            lease_owner=_bind("b_owner", _RUN.c.lease_owner),
            lease_expires_at=_bind("b_expires", _RUN.c.lease_expires_at),
            attempt=_RUN.c.attempt + 1,
            updated_at=_bind("b_now", _RUN.c.updated_at),
        )
        .returning(_RUN.c.id)
    )


_CLAIM = _claim_stmt(_RUN.c.id.in_(sa.bindparam("run_ids", expanding=True)))
#: the usual claim (a slot freed up): one id, a fixed statement the prepared shortcut takes
_CLAIM_ONE = _claim_stmt(_RUN.c.id == sa.bindparam("run_id"))


def _take_lease_stmt() -> sa.Update:
    """Parameters: run_id, owner, now, b_expires."""
    owner = sa.bindparam("owner", type_=_RUN.c.lease_owner.type)
    now = sa.bindparam("now", type_=_RUN.c.updated_at.type)
    already_mine = sa.and_(_RUN.c.status == _RUNNING, _RUN.c.lease_owner == owner)
    expired = sa.and_(_RUN.c.status == _RUNNING, _RUN.c.lease_expires_at < now)
    due = sa.and_(
        _RUN.c.status.in_(status_values(CLAIMABLE_RUN)),
        sa.or_(_RUN.c.next_attempt_at.is_(None), _RUN.c.next_attempt_at <= now),
    )
    return (
        sa.update(_RUN)
        .where(_RUN.c.id == sa.bindparam("run_id"), sa.or_(already_mine, expired, due))
        .values(
            status=_RUNNING,
            lease_owner=owner,
            lease_expires_at=_bind("b_expires", _RUN.c.lease_expires_at),
            attempt=sa.case((already_mine, _RUN.c.attempt), else_=_RUN.c.attempt + 1),
            updated_at=now,
        )
    )


_TAKE_LEASE = _take_lease_stmt()

_RENEW = (
    sa.update(_RUN)
    .where(
        _RUN.c.id.in_(sa.bindparam("run_ids", expanding=True)),
        _RUN.c.status == _RUNNING,
        _RUN.c.lease_owner == sa.bindparam("owner"),
    )
    .values(
        lease_expires_at=_bind("b_expires", _RUN.c.lease_expires_at),
        updated_at=_bind("b_now", _RUN.c.updated_at),
    )
    .returning(_RUN.c.id)
)

#: one run's renewal, for the step loop: a fixed statement the prepared shortcut can take
#: (an expanding IN list cannot)
_RENEW_ONE = (
    sa.update(_RUN)
    .where(
        _RUN.c.id == sa.bindparam("run_id"),
        _RUN.c.status == _RUNNING,
        _RUN.c.lease_owner == sa.bindparam("owner"),
    )
    .values(
        lease_expires_at=_bind("b_expires", _RUN.c.lease_expires_at),
        updated_at=_bind("b_now", _RUN.c.updated_at),
    )
)

_HOLDS_LEASE = sa.select(_RUN.c.id).where(
    _RUN.c.id == sa.bindparam("run_id"),
    _RUN.c.status == _RUNNING,
    _RUN.c.lease_owner == sa.bindparam("owner"),
    _RUN.c.lease_expires_at >= sa.bindparam("now"),
)

_ANY_RUNNING = sa.select(_RUN.c.id).where(_RUN.c.status == _RUNNING).limit(1)


def _claimable_stmt_for(session: AsyncSession) -> sa.Select[int]:
    return _CLAIMABLE_PG if dialect.name(session) == "postgresql" else _CLAIMABLE


async def next_claimable(session: AsyncSession, *, now: datetime) -> int | None:
    """The run a claim would take now, without taking it."""
    stmt = _claimable_stmt_for(session)
    result = await session.execute(stmt, {"now": now, "limit": 1})
    return result.scalar_one_or_none()


#: One statement, so one snapshot on PostgreSQL too (READ COMMITTED gives each statement its
#: own): asked as two, a claim committing between them hid its run from both, and the
#: claimable half, with FOR UPDATE SKIP LOCKED, skipped a run a claimer had locked but not
#: yet committed. Either way `run_until_idle` returned while a run was about to execute.
_HAS_WORK = sa.select(sa.or_(sa.exists(_ANY_RUNNING), sa.exists(_CLAIMABLE)))
_HAS_WORK_PG = sa.select(sa.or_(sa.exists(_ANY_RUNNING), sa.exists(_claimable_stmt())))


async def has_work(session: AsyncSession, *, now: datetime) -> bool:
    """Whether any run is executing or could be claimed now (reads only, locks nothing)."""
    stmt = _HAS_WORK_PG if dialect.name(session) == "postgresql" else _HAS_WORK
    return bool((await session.execute(stmt, {"now": now, "limit": 1})).scalar())


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
    candidate = _claimable_stmt_for(session)
    found = await prepared.run(session, candidate, {"now": now, "limit": limit})
    run_ids = list(found.scalars().all())
    if not run_ids:
        return []
    lease = {"b_owner": owner, "b_expires": now + timedelta(seconds=lease_seconds), "b_now": now}
    if len(run_ids) == 1:
        result = await prepared.run(session, _CLAIM_ONE, {"run_id": run_ids[0], **lease})
    else:
        result = await prepared.run(session, _CLAIM, {"run_ids": run_ids, **lease})
    return sorted(result.scalars().all())


#: PostgreSQL only (the procrastinate dispatcher): one entity's oldest unfinished run, if it
#: is due and claimable. The same FIFO rule as _CLAIMABLE, narrowed to one entity key.
_CLAIMABLE_OF_ENTITY = (
    _claimable_stmt()
    .where(_RUN.c.entity_key == sa.bindparam("entity"))
    .with_for_update(skip_locked=True)
)


async def claim_entity(
    session: AsyncSession, entity_key: str, *, owner: str, now: datetime, lease_seconds: float
) -> int | None:
    """Lease the entity's oldest unfinished run if it is due and claimable; its id.

    Nothing when that run is running elsewhere, waits for a retry that is not due, or the
    entity has no unfinished run: later runs of the entity are never candidates (invariant 6),
    whoever asks and in whatever order the wake-ups arrive."""
    found = await session.execute(
        _CLAIMABLE_OF_ENTITY, {"now": now, "limit": 1, "entity": entity_key}
    )
    run_id = found.scalar_one_or_none()
    if run_id is None:
        return None
    lease = {"b_owner": owner, "b_expires": now + timedelta(seconds=lease_seconds), "b_now": now}
    result = await prepared.run(session, _CLAIM_ONE, {"run_id": run_id, **lease})
    claimed = result.scalar_one_or_none()
    return None if claimed is None else int(claimed)


async def take_lease(
    session: AsyncSession, run_id: int, *, owner: str, now: datetime, lease_seconds: float
) -> bool:
    """Compare-and-set the lease: succeeds if the run is due and claimable, already leased by
    `owner` (a worker claimed it for us), or leased by someone whose lease has expired."""
    result = await prepared.run(
        session,
        _TAKE_LEASE,
        {
            "run_id": run_id,
            "owner": owner,
            "now": now,
            "b_expires": now + timedelta(seconds=lease_seconds),
        },
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
    held = await prepared.run(
        session,
        _RENEW,
        {
            "run_ids": list(run_ids),
            "owner": owner,
            "b_expires": now + timedelta(seconds=lease_seconds),
            "b_now": now,
        },
    )
    return set(held.scalars().all())


async def renew_lease(
    session: AsyncSession, run_id: int, *, owner: str, now: datetime, lease_seconds: float
) -> bool:
    """Extend one lease if `owner` still holds it; whether it does."""
    result = await prepared.run(
        session,
        _RENEW_ONE,
        {
            "run_id": run_id,
            "owner": owner,
            "b_expires": now + timedelta(seconds=lease_seconds),
            "b_now": now,
        },
    )
    return dialect.rowcount(result) == 1


async def holds_lease(session: AsyncSession, run_id: int, *, owner: str, now: datetime) -> bool:
    result = await prepared.run(
        session, _HOLDS_LEASE, {"run_id": run_id, "owner": owner, "now": now}
    )
    return result.scalar_one_or_none() is not None


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
