"""/api/v1/apps and /api/v1/connections."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response

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
from billsync.api.v1.errors import invalid, raise_for, responses
from billsync.api.v1.ids import MAX_ID
from billsync.app import App, connection_admin, connection_fields, connections

ConnectionId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _raise(exc: errors.SyncError) -> None:
    if isinstance(exc, errors.FlowError):
        # Connection field problems are named after the field; they sit under `values`.
        exc.problems = [
            (f if f in ("app", "name", "rate_limit") else f"values.{f}", m) for f, m in exc.problems
        ]
    raise_for(exc)


def _check_values(app: App, app_name: str, values: Mapping[str, str], *, partial: bool) -> None:
    """Refuse (422, every field named) values the OpenAPI document does not allow for this
    app: the same rules, judged on the request alone (api/schemas/connection_values.py)."""
    try:
        app_spec = app.registry.app(app_name)
    except KeyError:
        names = ", ".join(a.name for a in app.registry.apps)
        raise invalid([("app", f"unknown app {app_name!r} (one of {names})")]) from None
    problems = connection_fields.request_problems(app_spec, values, partial=partial)
    if not problems:
        return
    if partial:
        others = [
            a.name
            for a in app.registry.apps
            if a is not app_spec and not connection_fields.request_problems(a, values, partial=True)
        ]
        if others:
            # Valid values, for another app: what this connection takes is stored state.
            raise HTTPException(
                409,
                f"this is a {app_name} connection; those are {others[0]} fields "
                f"({', '.join(sorted(values))})",
            )
    raise invalid([(f"values.{field}", message) for field, message in problems])


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
        """Verify the credentials with the app, then save the connection. 422 also when
        the app refuses the credentials (no schema can say which ones an app accepts)."""
        _check_values(app, body.app, body.values, partial=False)
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
        """Change the name, field values (verified first) or rate limit. 409 when the
        values are another app's, or conflict with the stored ones (e.g. "sandbox": "no"
        while the stored base_url is http://); 422 when the app refuses the credentials."""
        if body.values is not None:
            stored = await connections.get(app, connection_id)
            if stored is None:
                raise_for(
                    connection_admin.ConnectionNotFoundError(f"no connection {connection_id}")
                )
            _check_values(app, stored.app, body.values, partial=True)
        rate: dict[str, float | None] = {}
        if "rate_limit" in body.model_fields_set:
            rate["rate_limit"] = body.rate_limit
        try:
            updated = await connection_admin.update(
                app, connection_id, name=body.name, values=body.values, actor=who, **rate
            )
        except connections.InvalidConnectionError as exc:
            # The request's values passed on their own: merged with the stored ones, they
            # do not fit (a state conflict, not a malformed request).
            raise HTTPException(409, exc.message) from exc
        except errors.SyncError as exc:
            _raise(exc)
        return ConnectionPublic.of(updated)

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
        responses=responses(400, 404, 409, 422),
    )
    async def rotate_webhook_secret(
        connection_id: ConnectionId, body: WebhookSecretRotate, who: str = Depends(actor)
    ) -> ConnectionPublic:
        """Togai: a new webhook URL token (`{}`; a `webhook_secret` is refused). Razorpay:
        store the new secret set at Razorpay (`webhook_secret` required). Which one applies
        is the stored connection's app: the wrong body for it answers 409."""
        try:
            info = await connection_admin.rotate_webhook_secret(
                app, connection_id, new_secret=body.webhook_secret, actor=who
            )
        except connections.InvalidConnectionError as exc:
            raise HTTPException(409, exc.message) from exc
        except errors.SyncError as exc:
            _raise(exc)
        return ConnectionPublic.of(info)

    return routes
