"""Poll cursors: where each polling trigger of each connection left off."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from billsync.store import dialect
from billsync.store.models import PollCursor


async def get(session: AsyncSession, connection_id: int, trigger: str) -> dict[str, Any] | None:
    stmt = sa.select(PollCursor.cursor).where(
        PollCursor.connection_id == connection_id, PollCursor.trigger == trigger
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def put(
    session: AsyncSession,
    connection_id: int,
    trigger: str,
    cursor: Mapping[str, Any],
    *,
    now: datetime,
) -> None:
    """Save the cursor; call in the transaction that stores the polled events."""
    stmt = dialect.insert(session, PollCursor).values(
        connection_id=connection_id, trigger=trigger, cursor=dict(cursor), updated_at=now
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["connection_id", "trigger"],
        set_={"cursor": stmt.excluded.cursor, "updated_at": stmt.excluded.updated_at},
    )
    await session.execute(stmt)
