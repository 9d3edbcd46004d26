"""The audit log: who changed what (connections, flows, replays, key rotation)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from billsync.store.models import AuditLog


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    target: str,
    now: datetime,
    detail: Mapping[str, Any] | None = None,
) -> AuditLog:
    """Append an entry. `detail` must never hold secret values."""
    row = AuditLog(at=now, actor=actor, action=action, target=target, detail=dict(detail or {}))
    session.add(row)
    await session.flush()
    return row


async def list_recent(
    session: AsyncSession,
    *,
    limit: int = 50,
    before_id: int | None = None,
    target: str | None = None,
) -> Sequence[AuditLog]:
    stmt = sa.select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(AuditLog.id < before_id)
    if target is not None:
        stmt = stmt.where(AuditLog.target == target)
    return (await session.execute(stmt)).scalars().all()
