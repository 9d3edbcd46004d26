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
from billsync.store import dialect
from billsync.store.models import IdMapping


async def find(session: AsyncSession, kind: LinkKind, side: Side, value: str) -> str | None:
    """The id on the other side of `value` (given on `side`), or None."""
    if side is Side.TOGAI:
        stmt = sa.select(IdMapping.razorpay_id).where(
            IdMapping.kind == kind.value, IdMapping.togai_id == value
        )
    else:
        stmt = sa.select(IdMapping.togai_id).where(
            IdMapping.kind == kind.value, IdMapping.razorpay_id == value
        )
    return (await session.execute(stmt)).scalar_one_or_none()


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
    stmt = (
        dialect.insert(session, IdMapping)
        .values(
            kind=link.kind.value,
            togai_id=link.togai_id,
            razorpay_id=link.razorpay_id,
            run_id=run_id,
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(IdMapping.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


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
