"""Id mappings between Togai and Razorpay (account↔customer, invoice↔invoice, ...).

Storage only; the rule "same link again is fine, a conflicting one is an error" lives in
engine/mapping.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from billsync.domain import IdLink, LinkKind, Side
from billsync.store import dialect, prepared
from billsync.store.models import IdMapping

# The hot-path statements are built once, with named parameters (see store/leases.py).
_MAPPING: sa.Table = IdMapping.__table__  # type: ignore[assignment]  # declarative maps a Table

#: The side a value is given on -> the statement reading the other side's id.
_FIND = {
    Side.TOGAI: sa.select(_MAPPING.c.razorpay_id).where(
        _MAPPING.c.kind == sa.bindparam("kind"), _MAPPING.c.togai_id == sa.bindparam("value")
    ),
    Side.RAZORPAY: sa.select(_MAPPING.c.togai_id).where(
        _MAPPING.c.kind == sa.bindparam("kind"), _MAPPING.c.razorpay_id == sa.bindparam("value")
    ),
}

_INSERT_NEW = dialect.insert_if_new(_MAPPING)


async def find(session: AsyncSession, kind: LinkKind, side: Side, value: str) -> str | None:
    """The id on the other side of `value` (given on `side`), or None."""
    stmt = _FIND[Side.TOGAI if side is Side.TOGAI else Side.RAZORPAY]
    result = await prepared.run(session, stmt, {"kind": kind.value, "value": value})
    found: str | None = result.scalar_one_or_none()
    return found


async def touching(session: AsyncSession, link: IdLink) -> Sequence[IdMapping]:
    """Rows of the link's kind sharing either of its ids."""
    stmt = sa.select(IdMapping).where(
        IdMapping.kind == link.kind.value,
        sa.or_(IdMapping.togai_id == link.togai_id, IdMapping.razorpay_id == link.razorpay_id),
    )
    return (await session.execute(stmt)).scalars().all()


async def insert_new(
    session: AsyncSession, link: IdLink, *, run_id: int | None, now: datetime
) -> bool:
    """Insert unless either side is taken; True when a row was written."""
    result = await prepared.run(
        session,
        _INSERT_NEW[dialect.name(session)],
        {
            "kind": link.kind.value,
            "togai_id": link.togai_id,
            "razorpay_id": link.razorpay_id,
            "run_id": run_id,
            "created_at": now,
        },
    )
    return result.scalar_one_or_none() is not None


async def list_recent(
    session: AsyncSession,
    *,
    kind: LinkKind | None = None,
    search: str | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> Sequence[IdMapping]:
    stmt = sa.select(IdMapping).order_by(IdMapping.id.desc()).limit(limit)
    if kind is not None:
        stmt = stmt.where(IdMapping.kind == kind.value)
    if search:
        stmt = stmt.where(sa.or_(IdMapping.togai_id == search, IdMapping.razorpay_id == search))
    if before_id is not None:
        stmt = stmt.where(IdMapping.id < before_id)
    return (await session.execute(stmt)).scalars().all()


async def delete(session: AsyncSession, mapping_id: int) -> bool:
    result = await session.execute(sa.delete(IdMapping).where(IdMapping.id == mapping_id))
    return bool(dialect.rowcount(result))


async def all_links(session: AsyncSession) -> list[tuple[LinkKind, str, str]]:
    """Every mapping as (kind, togai id, razorpay id): what a reconciliation compares."""
    stmt = sa.select(IdMapping.kind, IdMapping.togai_id, IdMapping.razorpay_id).order_by(
        IdMapping.id
    )
    return [(LinkKind(k), t, r) for k, t, r in (await session.execute(stmt)).all()]


async def delete_link(session: AsyncSession, link: IdLink) -> bool:
    """Remove exactly this link (a stale one a reconciliation proved wrong)."""
    result = await session.execute(
        sa.delete(IdMapping).where(
            IdMapping.kind == link.kind.value,
            IdMapping.togai_id == link.togai_id,
            IdMapping.razorpay_id == link.razorpay_id,
        )
    )
    return bool(dialect.rowcount(result))
