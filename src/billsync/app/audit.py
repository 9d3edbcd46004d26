"""Reading the audit log (entries are written by each operation, in its own transaction)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billsync.app.root import App
from billsync.store import audit as store


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


def api_actor(token_name: str) -> str:
    """How a change made with an API token is attributed."""
    return f"api:{token_name}"


async def recent(
    app: App, *, limit: int = 50, before_id: int | None = None, target: str | None = None
) -> list[AuditEntry]:
    async with app.db.read() as session:
        rows = await store.list_recent(session, limit=limit, before_id=before_id, target=target)
    return [
        AuditEntry(
            id=row.id,
            at=row.at,
            actor=row.actor,
            action=row.action,
            target=row.target,
            detail=dict(row.detail),
        )
        for row in rows
    ]
