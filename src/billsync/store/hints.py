"""Webhook hints: stored before an unsigned delivery is acknowledged, deleted once resolved."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from billsync.domain import Hint
from billsync.store import dialect, prepared
from billsync.store.models import WebhookHint

_HINT: sa.Table = WebhookHint.__table__  # type: ignore[assignment]  # declarative maps a Table
_INSERT = dialect.insert_if_new(_HINT, ["connection_id", "kind", "entity_id", "hint"])
#: Ids per IN (...) list: well under SQLite's bound-parameter limit.
_CHUNK = 500


@dataclass(frozen=True)
class StoredHint:
    id: int
    connection_id: int
    hint: Hint
    received_at: datetime


async def insert(session: AsyncSession, connection_id: int, hint: Hint, *, now: datetime) -> bool:
    """Store the hint; False when the same hint is already pending (a redelivery)."""
    result = await prepared.run(
        session,
        _INSERT[dialect.name(session)],
        {
            "connection_id": connection_id,
            "kind": hint.kind,
            "entity_id": hint.entity_id,
            "hint": hint.hint,
            "occurred_at": hint.occurred_at,
            "received_at": now,
        },
    )
    return result.scalar_one_or_none() is not None


async def pending_connections(session: AsyncSession) -> list[int]:
    """Connections with hints waiting, oldest hint first."""
    stmt = (
        sa.select(WebhookHint.connection_id)
        .group_by(WebhookHint.connection_id)
        .order_by(sa.func.min(WebhookHint.id))
    )
    return [int(v) for v in (await session.execute(stmt)).scalars().all()]


async def pending(session: AsyncSession, connection_id: int, *, limit: int) -> list[StoredHint]:
    """The connection's oldest waiting hints."""
    stmt = (
        sa.select(WebhookHint)
        .where(WebhookHint.connection_id == connection_id)
        .order_by(WebhookHint.id)
        .limit(limit)
    )
    rows = (await session.execute(stmt)).scalars().all()
    return [
        StoredHint(
            r.id, r.connection_id, Hint(r.kind, r.entity_id, r.hint, r.occurred_at), r.received_at
        )
        for r in rows
    ]


async def delete(session: AsyncSession, ids: Sequence[int]) -> None:
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        await session.execute(sa.delete(WebhookHint).where(WebhookHint.id.in_(chunk)))


async def count(session: AsyncSession) -> int:
    return int(
        (await session.execute(sa.select(sa.func.count()).select_from(WebhookHint))).scalar_one()
    )
