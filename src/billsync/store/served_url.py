"""The public base URL the running (or last) `billsync serve` recorded: one row, replaced
by each start of a process that takes webhooks."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from billsync.store import dialect
from billsync.store.models import ServedUrl

#: The one row's key.
_ROW = 1


async def record(session: AsyncSession, url: str, *, now: datetime) -> None:
    stmt = dialect.insert(session, ServedUrl).values(id=_ROW, url=url, recorded_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={"url": stmt.excluded.url, "recorded_at": stmt.excluded.recorded_at},
    )
    await session.execute(stmt)


async def get(session: AsyncSession) -> str | None:
    return (
        await session.execute(sa.select(ServedUrl.url).where(ServedUrl.id == _ROW))
    ).scalar_one_or_none()
