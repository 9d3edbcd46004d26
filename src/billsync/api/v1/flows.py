"""/api/v1/flows and /api/v1/templates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from billsync import errors
from billsync.api.auth import ActorDependency
from billsync.api.schemas.flows import (
    FlowCreate,
    FlowCreatedPublic,
    FlowPreviewPublic,
    FlowPreviewRequest,
    FlowPublic,
    FlowUpdate,
    TemplatePublic,
)
from billsync.api.v1.errors import invalid, raise_for, responses
from billsync.api.v1.ids import MAX_ID
from billsync.app import App, flow_admin, flows
from billsync.engine.templates import list_templates
from billsync.store.models import Flow

FlowId = Annotated[int, Path(ge=1, le=MAX_ID)]


async def _create(app: App, body: FlowCreate, who: str) -> tuple[Flow, list[int]]:
    """The flow asked for, plus the template's companions not created yet."""
    if (body.template is None) == (body.definition is None):
        raise invalid([("template", "give either a template or a definition (not both)")])
    if body.definition is not None:
        try:
            flow = await flows.create(app, body.definition, enabled=body.enabled, actor=who)
        except errors.FlowError as exc:
            raise_for(exc, prefix="definition")
        return flow, []
    assert body.template is not None
    try:
        flow, companions = await flow_admin.create_with_companions(
            app,
            body.template,
            body.connections,
            enabled=body.enabled,
            name=body.name,
            actor=who,
            options=body.options,
        )
    except errors.FlowError as exc:
        raise_for(exc)
    return flow, [c.id for c in companions]


def router(app: App, actor: ActorDependency) -> APIRouter:
    routes = APIRouter(tags=["flows"], dependencies=[Depends(actor)])

    @routes.get("/templates", response_model=list[TemplatePublic])
    async def list_flow_templates() -> list[TemplatePublic]:
        """Predefined flows; create one with POST /flows {template, connections}."""
        return [TemplatePublic.of(t) for t in list_templates()]

    @routes.get("/flows", response_model=list[FlowPublic])
    async def list_flows() -> list[FlowPublic]:
        return [FlowPublic.of(f) for f in await flow_admin.list_all(app)]

    @routes.post(
        "/flows",
        status_code=201,
        response_model=FlowCreatedPublic,
        responses=responses(400, 409, 422),
    )
    async def create_flow(body: FlowCreate, who: str = Depends(actor)) -> FlowCreatedPublic:
        """From a template bound to connections (its companions are created too), or from a
        full definition. An invalid flow is refused with every failing field."""
        flow, companions = await _create(app, body, who)
        detail = await flow_admin.get(app, flow.id)
        public = FlowPublic.of(detail).model_dump()
        return FlowCreatedPublic(**public, companion_ids=companions)

    @routes.get("/flows/{flow_id}", response_model=FlowPublic, responses=responses(404))
    async def get_flow(flow_id: FlowId) -> FlowPublic:
        try:
            return FlowPublic.of(await flow_admin.get(app, flow_id))
        except errors.SyncError as exc:
            raise_for(exc)

    @routes.put(
        "/flows/{flow_id}", response_model=FlowPublic, responses=responses(400, 404, 409, 422)
    )
    async def update_flow(
        flow_id: FlowId, body: FlowUpdate, who: str = Depends(actor)
    ) -> FlowPublic:
        """Store a new version; runs already created keep the version they started with."""
        try:
            return FlowPublic.of(await flow_admin.update(app, flow_id, body.definition, actor=who))
        except errors.SyncError as exc:
            raise_for(exc, prefix="definition")

    async def _set_enabled(flow_id: int, enabled: bool, who: str) -> FlowPublic:
        try:
            await flow_admin.get(app, flow_id)
            await flows.set_enabled(app, flow_id, enabled, actor=who)
            return FlowPublic.of(await flow_admin.get(app, flow_id))
        except errors.SyncError as exc:
            raise_for(exc)

    @routes.post("/flows/{flow_id}/enable", response_model=FlowPublic, responses=responses(404))
    async def enable_flow(flow_id: FlowId, who: str = Depends(actor)) -> FlowPublic:
        return await _set_enabled(flow_id, True, who)

    @routes.post("/flows/{flow_id}/disable", response_model=FlowPublic, responses=responses(404))
    async def disable_flow(flow_id: FlowId, who: str = Depends(actor)) -> FlowPublic:
        return await _set_enabled(flow_id, False, who)

    @routes.delete(
        "/flows/{flow_id}",
        status_code=204,
        response_class=Response,
        responses=responses(404, 409),
    )
    async def delete_flow(flow_id: FlowId, who: str = Depends(actor)) -> Response:
        """Remove a flow that never ran (one with runs: disable it)."""
        try:
            await flow_admin.delete(app, flow_id, actor=who)
        except errors.SyncError as exc:
            raise_for(exc)
        return Response(status_code=204)

    @routes.post(
        "/flows/{flow_id}/preview",
        response_model=FlowPreviewPublic,
        responses=responses(400, 404, 422, 502),
    )
    async def preview_flow(flow_id: FlowId, body: FlowPreviewRequest) -> FlowPreviewPublic:
        """Dry-run against a sample payload or a stored event: reads go to the apps,
        writes are never sent."""
        try:
            definition = (
                body.definition
                if body.definition is not None
                # `{}` is a definition (an invalid one), not "the stored one".
                else (await flow_admin.get(app, flow_id)).definition
            )
            result = await flow_admin.preview(
                app, definition, payload=body.payload, event_id=body.event_id
            )
        except errors.SyncError as exc:
            raise_for(exc, prefix="definition")
        return FlowPreviewPublic.of(result)

    return routes
