"""/api/v1/mappings: look up by any Togai or Razorpay id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from billsync.api.auth import ActorDependency
from billsync.api.schemas.mappings import MappingPublic
from billsync.api.v1.ids import MAX_ID
from billsync.app import App
from billsync.app import mappings as mapping_ops
from billsync.domain import LinkKind


def router(app: App, actor: ActorDependency) -> APIRouter:
    routes = APIRouter(tags=["mappings"], dependencies=[Depends(actor)])

    @routes.get("/mappings", response_model=list[MappingPublic])
    async def find_mappings(
        id: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=255,
                description="A Togai account/invoice id or a Razorpay customer/invoice/"
                "payment id; without it, the newest mappings",
            ),
        ] = None,
        kind: LinkKind | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    ) -> list[MappingPublic]:
        if id is not None:
            found = await mapping_ops.lookup(app, id, kind=kind)
        else:
            found = await mapping_ops.list_recent(app, kind=kind, limit=limit, before_id=before_id)
        return [MappingPublic.of(m) for m in found]

    return routes
