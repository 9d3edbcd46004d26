"""Flows: the list, predefined flows with "+Add connection", a flow's page with its version
history, enable/disable. The "Create New Flow+" wizard lives in web/wizard.py.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from billsync import errors
from billsync.app import flow_admin
from billsync.app import flows as flow_ops
from billsync.app import runs as run_ops
from billsync.engine.templates import FlowTemplate, list_templates
from billsync.web.connections import list_connections
from billsync.web.ui import PREFIX, Ui, text


def _summary(definition: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    trigger = definition.get("trigger", {})
    steps = definition.get("steps", [])
    return {
        "direction": definition.get("direction", ""),
        "description": definition.get("description", ""),
        "trigger": trigger.get("trigger", ""),
        "trigger_connection": names.get(str(trigger.get("connection_id")), "?"),
        "filter": trigger.get("filter"),
        "steps": [
            {
                "id": s.get("id"),
                "action": s.get("action"),
                "connection": names.get(str(s.get("connection_id")), "?"),
                "input": s.get("input", {}),
                "when": s.get("when"),
            }
            for s in steps
        ],
    }


async def _connection_names(ui: Ui) -> dict[str, str]:
    return {str(c.id): f"{c.name} ({c.app})" for c in await list_connections(ui)}


def router(ui: Ui) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    async def flows_page(
        request: Request,
        *,
        error_for: str = "",
        error: str = "",
        field_errors: dict[str, str] | None = None,
        notice: str = "",
        status_code: int = 200,
    ) -> Response:
        names = await _connection_names(ui)
        connections = await list_connections(ui)
        details = await flow_admin.list_all(ui.app)
        rows = []
        for found in details:
            recent = await run_ops.list_runs(
                ui.app, run_ops.RunFilter(flow_id=found.flow.id, limit=1)
            )
            rows.append(
                {
                    "flow": found.flow,
                    "summary": _summary(found.definition, names),
                    "last_run": recent[0] if recent else None,
                }
            )
        bound = {d.flow.template_key for d in details if d.flow.template_key}
        templates = [
            {
                "template": t,
                "bound": t.key in bound,
                "choices": {app: [c for c in connections if c.app == app] for app in t.apps},
            }
            for t in list_templates()
        ]
        return ui.render(
            request,
            "flows.html",
            {
                "rows": rows,
                "templates": templates,
                "error_for": error_for,
                "error": error,
                "errors": field_errors or {},
                "notice": notice,
            },
            status_code=status_code,
            nav="flows",
        )

    @routes.get(f"{PREFIX}/flows")
    async def flows(request: Request) -> Response:
        await ui.admin(request)
        return await flows_page(request)

    @routes.post(f"{PREFIX}/flows/templates/{{key}}")
    async def bind_template(request: Request, key: str) -> Response:
        data = await ui.form(request)
        who = request.state.session.token_name
        template = _template(key)
        chosen: dict[str, int | str] = {}
        for app_name in template.apps:
            value = text(data, f"connection-{app_name}")
            if value:
                chosen[app_name] = value
        enabled = text(data, "enabled") == "1"
        # An unticked checkbox is not sent: every option of the form is yes or no here.
        options = {o.key: text(data, f"option-{o.key}") == "1" for o in template.options}
        created: list[str] = []
        try:
            for each in (template, *(_template(k) for k in template.companions)):
                if await _bound(ui, each.key):
                    continue
                flow = await flow_ops.create_from_template(
                    ui.app,
                    each.key,
                    chosen,
                    enabled=enabled,
                    actor=f"web:{who}",
                    options=options if each is template else None,
                )
                created.append(flow.name)
        except errors.FlowError as exc:
            field_errors = {
                field.removeprefix("connections."): message for field, message in exc.problems
            }
            return await flows_page(
                request,
                error_for=key,
                error=exc.message,
                field_errors=field_errors,
                status_code=422,
            )
        notice = "Created: " + "; ".join(created) if created else "Already bound."
        return await flows_page(request, notice=notice)

    @routes.get(f"{PREFIX}/flows/{{flow_id}}")
    async def flow_detail(request: Request, flow_id: int) -> Response:
        await ui.admin(request)
        names = await _connection_names(ui)
        try:
            found = await flow_admin.get(ui.app, flow_id)
        except flow_admin.FlowNotFoundError:
            raise HTTPException(status_code=404, detail=f"no flow {flow_id}") from None
        history = []
        for number in found.versions:
            version = await flow_admin.get_version(ui.app, flow_id, number)
            history.append(
                {
                    "number": number,
                    "created_at": version.created_at,
                    "summary": _summary(version.definition, names),
                }
            )
        recent = await run_ops.list_runs(ui.app, run_ops.RunFilter(flow_id=flow_id, limit=10))
        flow = found.flow
        current = _summary(found.definition, names)
        return ui.render(
            request,
            "flow.html",
            {"flow": flow, "history": history, "current": current, "runs": recent},
            nav="flows",
        )

    @routes.post(f"{PREFIX}/flows/{{flow_id}}/enabled")
    async def set_enabled(request: Request, flow_id: int) -> Response:
        data = await ui.form(request)
        who = request.state.session.token_name
        enabled = text(data, "enabled") == "1"
        try:
            await flow_ops.set_enabled(ui.app, flow_id, enabled, actor=f"web:{who}")
        except errors.FlowError:
            raise HTTPException(status_code=404, detail=f"no flow {flow_id}") from None
        back = text(data, "back")
        target = back if back.startswith(f"{PREFIX}/") else f"{PREFIX}/flows/{flow_id}"
        return RedirectResponse(target, status_code=303)

    return routes


def _template(key: str) -> FlowTemplate:
    for template in list_templates():
        if template.key == key:
            return template
    raise HTTPException(status_code=404, detail=f"no template {key!r}")


async def _bound(ui: Ui, key: str) -> bool:
    return any(d.flow.template_key == key for d in await flow_admin.list_all(ui.app))
