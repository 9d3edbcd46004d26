"""Integrations → Apps: each app's triggers and actions, its connections, "+Add connection".

A connection is tested on save (app/connections.create verifies the credentials first);
its page shows the webhook URL to paste into Razorpay or Togai. Secret fields are never
rendered: the edit form leaves them empty, and a value typed there replaces the stored
one ("replace", never "show"). A Togai webhook URL carries a secret token: it is shown whole
only in the answer to the creation and to "New webhook URL" (rotation), not on later visits.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from billsync import errors
from billsync.app import connection_admin
from billsync.app import connections as connection_ops
from billsync.connectors import spec
from billsync.web.ui import PREFIX, Ui, text


def _app_spec(ui: Ui, name: str) -> spec.AppSpec:
    try:
        return ui.app.registry.app(name)
    except KeyError:
        raise HTTPException(status_code=404, detail=f"no app {name!r}") from None


async def list_connections(ui: Ui) -> list[connection_ops.ConnectionInfo]:
    return await connection_admin.list_all(ui.app)


def _problems(exc: errors.FlowError) -> dict[str, str]:
    found: dict[str, str] = {}
    for field, message in exc.problems:
        found.setdefault(field or "_", message)
    return found


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _connector_message(app_title: str, exc: errors.ConnectorError) -> str:
    """One sentence about the test call; the connectors' verify messages already name the
    app and what it refused, so they are not wrapped in a second "rejected" clause."""
    message = exc.message
    if message.startswith(app_title) or exc.operation == "verify":
        return _sentence(message)
    if isinstance(exc, errors.AuthError):
        return _sentence(f"{app_title} rejected these credentials: {message}")
    if isinstance(exc, errors.RetryableError):
        return _sentence(f"Could not reach {app_title} to test the connection: {message}")
    return _sentence(f"{app_title} refused the test call: {message}")


def _values(app_spec: spec.AppSpec, data: FormData, *, keep_blank_secrets: bool) -> dict[str, str]:
    """The form's field values; with `keep_blank_secrets`, an empty secret is left out so
    the stored value stays (an empty option still means "back to the default")."""
    values: dict[str, str] = {}
    for field in app_spec.fields:
        value = text(data, f"field-{field.name}")
        if value or not (field.secret and keep_blank_secrets):
            values[field.name] = value
    return values


def router(ui: Ui) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get(f"{PREFIX}/apps")
    async def apps(request: Request) -> Response:
        await ui.admin(request)
        connections = await list_connections(ui)
        by_app = {a.name: [c for c in connections if c.app == a.name] for a in ui.app.registry.apps}
        return ui.render(
            request,
            "apps.html",
            {"apps": ui.app.registry.apps, "by_app": by_app},
            nav="apps",
        )

    def form_page(
        request: Request,
        app_spec: spec.AppSpec,
        *,
        values: Mapping[str, str] | None = None,
        field_errors: Mapping[str, str] | None = None,
        error: str = "",
        status_code: int = 200,
    ) -> Response:
        return ui.render(
            request,
            "connection_new.html",
            {
                "app_spec": app_spec,
                "values": values or {},
                "errors": field_errors or {},
                "error": error,
            },
            status_code=status_code,
            nav="apps",
        )

    @routes.get(f"{PREFIX}/apps/{{app_name}}/connections/new")
    async def new_connection(request: Request, app_name: str) -> Response:
        await ui.admin(request)
        return form_page(request, _app_spec(ui, app_name))

    @routes.post(f"{PREFIX}/apps/{{app_name}}/connections")
    async def create_connection(request: Request, app_name: str) -> Response:
        data = await ui.form(request)
        who = request.state.session.token_name
        app_spec = _app_spec(ui, app_name)
        name = text(data, "name")
        values = _values(app_spec, data, keep_blank_secrets=False)
        shown = {k: v for k, v in values.items() if not app_spec_field(app_spec, k).secret}
        shown["name"] = name
        if not name:
            return form_page(
                request,
                app_spec,
                values=shown,
                field_errors={"name": "App link name is required"},
                status_code=422,
            )
        try:
            created = await connection_ops.create(
                ui.app, app_name=app_name, name=name, values=values, actor=f"web:{who}"
            )
        except errors.FlowError as exc:
            return form_page(
                request, app_spec, values=shown, field_errors=_problems(exc), status_code=422
            )
        except errors.ConnectorError as exc:
            return form_page(
                request,
                app_spec,
                values=shown,
                error=_connector_message(app_spec.title, exc),
                status_code=422,
            )
        # Rendered here, not redirected: this answer is the one that shows a Togai webhook
        # URL whole (a later visit shows only its first characters).
        return await connection_page(
            request, created.id, notice="Connection tested and saved.", shown=created
        )

    async def connection_page(
        request: Request,
        connection_id: int,
        *,
        notice: str = "",
        error: str = "",
        field_errors: Mapping[str, str] | None = None,
        status_code: int = 200,
        shown: connection_ops.ConnectionInfo | None = None,
    ) -> Response:
        found = shown or await connection_ops.get(ui.app, connection_id)
        if found is None:
            raise HTTPException(status_code=404, detail=f"no connection {connection_id}")
        return ui.render(
            request,
            "connection.html",
            {
                "connection": found,
                "app_spec": ui.app.registry.app(found.app),
                "notice": notice,
                "error": error,
                "errors": field_errors or {},
                "revealed": shown is not None,
            },
            status_code=status_code,
            nav="apps",
        )

    @routes.get(f"{PREFIX}/connections/{{connection_id}}")
    async def show_connection(request: Request, connection_id: int) -> Response:
        await ui.admin(request)
        created = request.query_params.get("created") == "1"
        notice = "Connection tested and saved." if created else ""
        return await connection_page(request, connection_id, notice=notice)

    @routes.post(f"{PREFIX}/connections/{{connection_id}}")
    async def update_connection(request: Request, connection_id: int) -> Response:
        data = await ui.form(request)
        who = request.state.session.token_name
        found = await connection_ops.get(ui.app, connection_id)
        if found is None:
            raise HTTPException(status_code=404, detail=f"no connection {connection_id}")
        app_spec = ui.app.registry.app(found.app)
        changes = _values(app_spec, data, keep_blank_secrets=True)
        try:
            await connection_admin.update(ui.app, connection_id, values=changes, actor=f"web:{who}")
        except errors.FlowError as exc:
            return await connection_page(
                request, connection_id, field_errors=_problems(exc), status_code=422
            )
        except errors.ConnectorError as exc:
            return await connection_page(
                request,
                connection_id,
                error=_connector_message(app_spec.title, exc) + " Nothing was changed.",
                status_code=422,
            )
        return await connection_page(request, connection_id, notice="Connection tested and saved.")

    @routes.post(f"{PREFIX}/connections/{{connection_id}}/rotate-webhook-url")
    async def rotate_webhook_url(request: Request, connection_id: int) -> Response:
        """A new URL token (apps that sign nothing, i.e. Togai); the old URL stops working."""
        await ui.form(request)
        who = request.state.session.token_name
        found = await connection_ops.get(ui.app, connection_id)
        if found is None:
            raise HTTPException(status_code=404, detail=f"no connection {connection_id}")
        if ui.app.registry.app(found.app).verify_webhook is not None:
            raise HTTPException(status_code=404, detail="this app signs its webhooks")
        rotated = await connection_admin.rotate_webhook_secret(
            ui.app, connection_id, actor=f"web:{who}"
        )
        return await connection_page(
            request,
            connection_id,
            notice="New webhook URL made; the old one no longer works. Copy it now.",
            shown=rotated,
        )

    return routes


def app_spec_field(app_spec: spec.AppSpec, name: str) -> spec.ConnectionField:
    for field in app_spec.fields:
        if field.name == name:
            return field
    raise KeyError(name)
