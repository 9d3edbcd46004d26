"""Reconciliations: one row per comparison of a connection pair, and its items.

A reconciliation is inserted `running`, gets progress notes while the comparison pages,
then either its items and counts (`succeeded`) or its error (`failed`). Items are written
once; only the fix columns change afterwards. Reads of the latest reconciliation per pair
use the (pair, id) index and never aggregate items, so the gauge and the dashboard stay
cheap however many items a report holds.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from billsync.store import dialect
from billsync.store.models import Reconciliation, ReconciliationItem

#: Items inserted per statement (SQLite allows 32766 bound parameters; 11 per item).
_INSERT_CHUNK = 500
#: Sets billsync's advisory lock keys for pairs apart from any other use of those locks.
_LOCK_SALT = 0x5EC0_0000_0000_0000


class ReconciliationStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Origin(enum.StrEnum):
    """What started a reconciliation."""

    API = "api"
    UI = "ui"
    SCHEDULE = "schedule"
    CLI = "cli"


async def create(
    session: AsyncSession,
    *,
    togai_connection_id: int,
    razorpay_connection_id: int,
    since: datetime | None,
    origin: Origin,
    actor: str,
    now: datetime,
) -> Reconciliation:
    row = Reconciliation(
        togai_connection_id=togai_connection_id,
        razorpay_connection_id=razorpay_connection_id,
        since=since,
        status=ReconciliationStatus.RUNNING.value,
        origin=origin.value,
        actor=actor,
        started_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def get(session: AsyncSession, reconciliation_id: int) -> Reconciliation | None:
    return await session.get(Reconciliation, reconciliation_id, populate_existing=True)


def _pair(
    stmt: sa.Select[Any], togai_connection_id: int | None, razorpay_connection_id: int | None
) -> sa.Select[Any]:
    if togai_connection_id is not None:
        stmt = stmt.where(Reconciliation.togai_connection_id == togai_connection_id)
    if razorpay_connection_id is not None:
        stmt = stmt.where(Reconciliation.razorpay_connection_id == razorpay_connection_id)
    return stmt


async def list_recent(
    session: AsyncSession,
    *,
    limit: int = 50,
    before_id: int | None = None,
    togai_connection_id: int | None = None,
    razorpay_connection_id: int | None = None,
    status: ReconciliationStatus | None = None,
) -> Sequence[Reconciliation]:
    """Newest first."""
    stmt = sa.select(Reconciliation).order_by(Reconciliation.id.desc()).limit(limit)
    stmt = _pair(stmt, togai_connection_id, razorpay_connection_id)
    if before_id is not None:
        stmt = stmt.where(Reconciliation.id < before_id)
    if status is not None:
        stmt = stmt.where(Reconciliation.status == status.value)
    return (await session.execute(stmt)).scalars().all()


async def lock_pair(
    session: AsyncSession, togai_connection_id: int, razorpay_connection_id: int
) -> None:
    """Serialise starts of one pair until the transaction ends: on PostgreSQL an advisory
    lock (processes sharing the database); SQLite's write transactions already are."""
    if dialect.name(session) != "postgresql":
        return
    key = (togai_connection_id << 32) ^ razorpay_connection_id ^ _LOCK_SALT
    await session.execute(
        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key & 0x7FFF_FFFF_FFFF_FFFF}
    )


async def running_for(
    session: AsyncSession, togai_connection_id: int, razorpay_connection_id: int
) -> Reconciliation | None:
    rows = await list_recent(
        session,
        limit=1,
        togai_connection_id=togai_connection_id,
        razorpay_connection_id=razorpay_connection_id,
        status=ReconciliationStatus.RUNNING,
    )
    return rows[0] if rows else None


async def latest_per_pair(
    session: AsyncSession, *, status: ReconciliationStatus | None = None
) -> Sequence[Reconciliation]:
    """The newest reconciliation of each pair (with `status`, if given), by pair."""
    newest = sa.select(sa.func.max(Reconciliation.id)).group_by(
        Reconciliation.togai_connection_id, Reconciliation.razorpay_connection_id
    )
    if status is not None:
        newest = newest.where(Reconciliation.status == status.value)
    stmt = (
        sa.select(Reconciliation)
        .where(Reconciliation.id.in_(newest.scalar_subquery()))
        .order_by(Reconciliation.togai_connection_id, Reconciliation.razorpay_connection_id)
    )
    return (await session.execute(stmt)).scalars().all()


async def note_progress(
    session: AsyncSession, reconciliation_id: int, note: str, *, now: datetime
) -> None:
    await session.execute(
        sa.update(Reconciliation)
        .where(
            Reconciliation.id == reconciliation_id,
            Reconciliation.status == ReconciliationStatus.RUNNING.value,
        )
        .values(progress=note[:200], updated_at=now)
    )


async def add_items(
    session: AsyncSession, reconciliation_id: int, items: Iterable[Mapping[str, Any]]
) -> int:
    """Insert items given as `Item.as_json()` dicts; how many."""
    rows = [
        {
            "reconciliation_id": reconciliation_id,
            "kind": item["kind"],
            "state": item["state"],
            "togai_id": item.get("togai_id"),
            "razorpay_id": item.get("razorpay_id"),
            "detail": item.get("detail") or "",
            "fix": item.get("fix"),
        }
        for item in items
    ]
    for start in range(0, len(rows), _INSERT_CHUNK):
        await session.execute(sa.insert(ReconciliationItem), rows[start : start + _INSERT_CHUNK])
    return len(rows)


async def succeed(
    session: AsyncSession,
    reconciliation_id: int,
    *,
    summary: Mapping[str, int],
    drift: int,
    calls: Mapping[str, int],
    now: datetime,
) -> bool:
    """Close a running reconciliation with its counts (its items added in the same txn)."""
    result = await session.execute(
        sa.update(Reconciliation)
        .where(
            Reconciliation.id == reconciliation_id,
            Reconciliation.status == ReconciliationStatus.RUNNING.value,
        )
        .values(
            status=ReconciliationStatus.SUCCEEDED.value,
            summary=dict(summary),
            total=sum(summary.values()),
            drift=drift,
            calls=dict(calls),
            progress=None,
            updated_at=now,
            finished_at=now,
        )
    )
    return dialect.rowcount(result) == 1


async def fail(session: AsyncSession, reconciliation_id: int, *, error: str, now: datetime) -> bool:
    result = await session.execute(
        sa.update(Reconciliation)
        .where(
            Reconciliation.id == reconciliation_id,
            Reconciliation.status == ReconciliationStatus.RUNNING.value,
        )
        .values(
            status=ReconciliationStatus.FAILED.value,
            error=error,
            updated_at=now,
            finished_at=now,
        )
    )
    return dialect.rowcount(result) == 1


async def fail_stale(
    session: AsyncSession,
    *,
    updated_before: datetime,
    error: str,
    now: datetime,
    keep: Iterable[int] = (),
) -> list[int]:
    """Mark failed the running reconciliations that stopped moving (their process died),
    except those in `keep` (the caller's process is running them)."""
    stmt = sa.select(Reconciliation.id).where(
        Reconciliation.status == ReconciliationStatus.RUNNING.value,
        Reconciliation.updated_at < updated_before,
    )
    kept = list(keep)
    if kept:
        stmt = stmt.where(Reconciliation.id.not_in(kept))
    ids = list((await session.execute(stmt)).scalars().all())
    for reconciliation_id in ids:
        await fail(session, reconciliation_id, error=error, now=now)
    return ids


async def items(
    session: AsyncSession,
    reconciliation_id: int,
    *,
    states: Sequence[str] = (),
    kinds: Sequence[str] = (),
    after_id: int | None = None,
    limit: int = 100,
) -> Sequence[ReconciliationItem]:
    """A page of items in id order (the order the comparison reported them)."""
    stmt = (
        sa.select(ReconciliationItem)
        .where(ReconciliationItem.reconciliation_id == reconciliation_id)
        .order_by(ReconciliationItem.id)
        .limit(limit)
    )
    if states:
        stmt = stmt.where(ReconciliationItem.state.in_(list(states)))
    if kinds:
        stmt = stmt.where(ReconciliationItem.kind.in_(list(kinds)))
    if after_id is not None:
        stmt = stmt.where(ReconciliationItem.id > after_id)
    return (await session.execute(stmt)).scalars().all()


async def items_by_id(
    session: AsyncSession, reconciliation_id: int, item_ids: Sequence[int]
) -> dict[int, ReconciliationItem]:
    """The items of this reconciliation among `item_ids` (others are absent)."""
    if not item_ids:
        return {}
    stmt = sa.select(ReconciliationItem).where(
        ReconciliationItem.reconciliation_id == reconciliation_id,
        ReconciliationItem.id.in_(list(item_ids)),
    )
    return {row.id: row for row in (await session.execute(stmt)).scalars().all()}


async def record_fix(
    session: AsyncSession,
    item_id: int,
    *,
    event_id: int | None,
    run_ids: Sequence[int],
    skipped: str | None,
    now: datetime,
) -> None:
    """What a fix did for one item. A fix that did nothing keeps an earlier fix's event and
    runs (they are still what repaired it) and only says why."""
    values: dict[str, Any] = {"fixed_at": now, "fix_skipped": skipped}
    if event_id is not None or run_ids:
        values["fix_event_id"] = event_id
        values["fix_run_ids"] = list(run_ids)
    await session.execute(
        sa.update(ReconciliationItem).where(ReconciliationItem.id == item_id).values(**values)
    )
