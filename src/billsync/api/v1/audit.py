"""/api/v1/audit: who changed what, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from billsync.api.auth import ActorDependency
from billsync.api.schemas.audit import AuditPublic
from billsync.api.v1.ids import MAX_ID
from billsync.app import App
from billsync.app import audit as audit_ops


def router(app: App, actor: ActorDependency) -> APIRouter:
    routes = APIRouter(tags=["audit"], dependencies=[Depends(actor)])

    @routes.get("/audit", response_model=list[AuditPublic])
    async def list_audit(
        target: Annotated[
            str | None, Query(max_length=255, description='e.g. "flow:3", "connection:1"')
        ] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    ) -> list[AuditPublic]:
        entries = await audit_ops.recent(app, limit=limit, before_id=before_id, target=target)
        return [AuditPublic.of(e) for e in entries]

    return routes
