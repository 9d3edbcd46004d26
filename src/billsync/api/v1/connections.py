"""/api/v1/apps and /api/v1/connections."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from billsync import errors
from billsync.api.auth import ActorDependency
from billsync.api.schemas.apps import AppPublic
from billsync.api.schemas.connections import (
    ConnectionCreate,
    ConnectionPublic,
    ConnectionTestPublic,
    ConnectionUpdate,
    WebhookSecretRotate,
)
from billsync.api.v1.errors import raise_for, responses
from billsync.api.v1.ids import MAX_ID
from billsync.app import App, connection_admin, connections

ConnectionId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _raise(exc: errors.SyncError) -> None:
    if isinstance(exc, errors.FlowError):
        # Connection field problems are named after the field; they sit under `values`.
        exc.problems = [
            (f if f in ("app", "name", "rate_limit") else f"values.{f}", m) for f, m in exc.problems
        ]
    raise_for(exc)


def router(app: App, actor: ActorDependency) -> APIRouter:
    routes = APIRouter(tags=["connections"], dependencies=[Depends(actor)])

    @routes.get("/apps", response_model=list[AppPublic])
    async def list_apps() -> list[AppPublic]:
        """The apps catalogue: connection fields, triggers and actions of each app."""
        return [AppPublic.of(spec) for spec in app.registry.apps]

    @routes.get("/connections", response_model=list[ConnectionPublic])
    async def list_connections(
        app_name: Annotated[str | None, Query(alias="app", max_length=40)] = None,
    ) -> list[ConnectionPublic]:
        return [ConnectionPublic.of(c) for c in await connection_admin.list_all(app, app_name)]

    @routes.post(
        "/connections",
        status_code=201,
        response_model=ConnectionPublic,
        responses=responses(400, 409, 422, 502),
    )
    async def create_connection(
        body: ConnectionCreate, who: str = Depends(actor)
    ) -> ConnectionPublic:
        """Verify the credentials with the app, then save the connection."""
        try:
            info = await connections.create(
                app,
                app_name=body.app,
                name=body.name,
                values=body.values,
                rate_limit=body.rate_limit,
                actor=who,
            )
        except errors.SyncError as exc:
            _raise(exc)
        return ConnectionPublic.of(info)

    @routes.get(
        "/connections/{connection_id}",
        response_model=ConnectionPublic,
        responses=responses(404),
    )
    async def get_connection(connection_id: ConnectionId) -> ConnectionPublic:
        info = await connections.get(app, connection_id)
        if info is None:
            raise_for(connection_admin.ConnectionNotFoundError(f"no connection {connection_id}"))
        return ConnectionPublic.of(info)

    @routes.patch(
        "/connections/{connection_id}",
        response_model=ConnectionPublic,
        responses=responses(400, 404, 409, 422, 502),
    )
    async def update_connection(
        connection_id: ConnectionId, body: ConnectionUpdate, who: str = Depends(actor)
    ) -> ConnectionPublic:
        """Change the name, field values (verified first) or rate limit."""
        rate: dict[str, float | None] = {}
        if "rate_limit" in body.model_fields_set:
            rate["rate_limit"] = body.rate_limit
        try:
            info = await connection_admin.update(
                app, connection_id, name=body.name, values=body.values, actor=who, **rate
            )
        except errors.SyncError as exc:
            _raise(exc)
        return ConnectionPublic.of(info)

    @routes.delete(
        "/connections/{connection_id}",
        status_code=204,
        response_class=Response,
        responses=responses(404, 409),
    )
    async def delete_connection(connection_id: ConnectionId, who: str = Depends(actor)) -> Response:
        """Remove a connection that no flow uses and that never received an event."""
        try:
            await connection_admin.delete(app, connection_id, actor=who)
        except errors.SyncError as exc:
            _raise(exc)
        return Response(status_code=204)

    @routes.post(
        "/connections/{connection_id}/test",
        response_model=ConnectionTestPublic,
        responses=responses(404),
    )
    async def test_connection(connection_id: ConnectionId) -> ConnectionTestPublic:
        """Call the app with the stored credentials; `ok` false says why it failed."""
        try:
            result = await connection_admin.test(app, connection_id)
        except errors.SyncError as exc:
            _raise(exc)
        return ConnectionTestPublic(ok=result.ok, error=result.error)

    @routes.post(
        "/connections/{connection_id}/rotate-webhook-secret",
        response_model=ConnectionPublic,
        responses=responses(400, 404, 422),
    )
    async def rotate_webhook_secret(
        connection_id: ConnectionId, body: WebhookSecretRotate, who: str = Depends(actor)
    ) -> ConnectionPublic:
        """Togai: a new webhook URL token. Razorpay: store the new secret set at Razorpay."""
        try:
            info = await connection_admin.rotate_webhook_secret(
                app, connection_id, new_secret=body.webhook_secret, actor=who
            )
        except errors.SyncError as exc:
            _raise(exc)
        return ConnectionPublic.of(info)

    return routes
