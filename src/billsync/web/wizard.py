"""The "Create New Flow+" wizard (also used to edit a flow, which stores a new version).

One page in five sections, as Togai's flow builder: name and description, flow type
(inbound/outbound), the trigger on a source connection, one or more actions on destination
connections with per-field JMESPath overrides, then preview and save. HTMX adds action
sections and loads an action's input fields when it is chosen; without JavaScript the
page still submits and re-renders with every problem shown next to its field.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from billsync import errors
from billsync.app import flow_admin
from billsync.app import flows as flow_ops
from billsync.connectors import spec
from billsync.engine.flow import parse_flow
from billsync.store import flows as store
from billsync.web import flow_preview
from billsync.web.connections import list_connections
from billsync.web.flow_form import FlowForm, StepForm, field_errors, from_definition, from_form
from billsync.web.flow_form import input_fields as fields_of
from billsync.web.ui import PREFIX, Ui


async def _choices(ui: Ui) -> list[dict[str, Any]]:
    """Each connection with its app's triggers and actions (the wizard's select options)."""
    return [
        {"connection": c, "app": ui.app.registry.app(c.app)}
        for c in await list_connections(ui)
        if c.app in {a.name for a in ui.app.registry.apps}
    ]


async def _action(ui: Ui, target: str) -> spec.ActionSpec | None:
    connection_id, _, key = target.partition(":")
    apps = await flow_ops.connection_apps(ui.app)
    app_name = apps.get(connection_id)
    if app_name is None:
        return None
    try:
        return ui.app.registry.app(app_name).action(key)
    except KeyError:
        return None


def router(ui: Ui) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    async def step_inputs(step: StepForm) -> list[Any]:
        action = await _action(ui, step.target) if step.target else None
        return fields_of(action) if action else []

    async def page(
        request: Request,
        form: FlowForm,
        *,
        flow_id: int | None = None,
        problems: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        if not form.steps:
            form.steps.append(StepForm(index=0))
        inputs = {s.index: await step_inputs(s) for s in form.steps}
        return ui.render(
            request,
            "wizard.html",
            {
                "form": form,
                "flow_id": flow_id,
                "choices": await _choices(ui),
                "inputs": inputs,
                "errors": problems or {},
                "next_index": max(s.index for s in form.steps) + 1,
            },
            status_code=status_code,
            nav="flows",
        )

    @routes.get(f"{PREFIX}/flows/new")
    async def new_flow(request: Request) -> Response:
        await ui.admin(request)
        return await page(request, FlowForm())

    @routes.get(f"{PREFIX}/flows/new/step")
    async def step_fragment(request: Request, index: int) -> Response:
        await ui.admin(request)
        return ui.render(
            request,
            "partials/wizard_step.html",
            {
                "step": StepForm(index=index),
                "choices": await _choices(ui),
                "inputs": {index: []},
                "errors": {},
                "oob_next": index + 1,
            },
        )

    @routes.get(f"{PREFIX}/flows/new/inputs")
    async def inputs_fragment(request: Request, index: int) -> Response:
        await ui.admin(request)
        step = StepForm(index=index, target=request.query_params.get(f"steps-{index}-target", ""))
        return ui.render(
            request,
            "partials/wizard_inputs.html",
            {"step": step, "inputs": {index: await step_inputs(step)}, "errors": {}},
        )

    @routes.post(f"{PREFIX}/flows/preview")
    async def preview(request: Request) -> Response:
        form = from_form(await ui.form(request))
        context: dict[str, Any] = {"preview": None, "problems": []}
        try:
            defn = parse_flow(form.definition())
            context["preview"] = await flow_preview.run(ui, defn, form.sample_event)
        except errors.FlowError as exc:
            context["problems"] = exc.problems
        return ui.render(request, "partials/wizard_preview.html", context)

    async def save(request: Request, flow_id: int | None) -> Response:
        data = await ui.form(request)
        who = request.state.session.token_name
        form = from_form(data)
        try:
            defn = parse_flow(form.definition())
            if flow_id is None:
                flow = await flow_ops.create(ui.app, defn, enabled=form.enabled, actor=f"web:{who}")
                flow_id = flow.id
            else:
                await flow_admin.update(ui.app, flow_id, defn, actor=f"web:{who}")
        except flow_admin.FlowNotFoundError:
            raise HTTPException(status_code=404, detail=f"no flow {flow_id}") from None
        except errors.FlowError as exc:
            return await page(
                request,
                form,
                flow_id=flow_id,
                problems=field_errors(form, exc.problems),
                status_code=422,
            )
        return RedirectResponse(f"{PREFIX}/flows/{flow_id}", status_code=303)

    @routes.post(f"{PREFIX}/flows/new")
    async def create(request: Request) -> Response:
        return await save(request, None)

    @routes.get(f"{PREFIX}/flows/{{flow_id}}/edit")
    async def edit(request: Request, flow_id: int) -> Response:
        await ui.admin(request)
        async with ui.app.db.read() as db:
            found = await store.current(db, flow_id)
        if found is None:
            raise HTTPException(status_code=404, detail=f"no flow {flow_id}")
        form = from_definition(found[1].definition)
        form.enabled = found[0].enabled
        return await page(request, form, flow_id=flow_id)

    @routes.post(f"{PREFIX}/flows/{{flow_id}}/edit")
    async def update(request: Request, flow_id: int) -> Response:
        return await save(request, flow_id)

    return routes
