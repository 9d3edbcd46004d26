"""Audit log entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from billsync.app.audit import AuditEntry


class AuditPublic(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, e: AuditEntry) -> AuditPublic:
        return cls(
            id=e.id, at=e.at, actor=e.actor, action=e.action, target=e.target, detail=e.detail
        )
