"""Runs: a filterable list (status, flow, entity) and a run's page with each step's input,
output, error and attempts, and a replay button for failed and dead runs.

Both pages refresh themselves with HTMX while something can still change (the list every
few seconds, a run page until its run is final), so a new run can be watched to the end.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from billsync.app import events as event_ops
from billsync.app import flow_admin
from billsync.app import runs as run_ops
from billsync.store.status import FINAL_RUN, REPLAYABLE_RUN, RunStatus
from billsync.web.ui import PREFIX, Ui


def _filters(request: Request) -> tuple[run_ops.RunFilter, dict[str, str]]:
    params = request.query_params
    chosen = {
        "status": params.get("status", ""),
        "flow": params.get("flow", ""),
        "entity": params.get("entity", "").strip(),
    }
    status = chosen["status"]
    query = run_ops.RunFilter(
        status=RunStatus(status) if status in {s.value for s in RunStatus} else None,
        flow_id=int(chosen["flow"]) if chosen["flow"].isdigit() else None,
        entity=chosen["entity"] or None,
        before_id=int(params["before"]) if params.get("before", "").isdigit() else None,
        limit=50,
    )
    return query, chosen


def router(ui: Ui) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    async def flow_names() -> dict[int, str]:
        return {d.flow.id: d.flow.name for d in await flow_admin.list_all(ui.app)}

    async def list_context(request: Request) -> dict[str, Any]:
        query, chosen = _filters(request)
        found = await run_ops.list_runs(ui.app, query)
        return {
            "runs": found,
            "names": await flow_names(),
            "chosen": chosen,
            "statuses": [s.value for s in RunStatus],
            "older": found[-1].id if len(found) == query.limit else None,
            "query": request.url.query,
        }

    @routes.get(f"{PREFIX}/runs")
    async def runs(request: Request) -> Response:
        await ui.admin(request)
        return ui.render(request, "runs.html", await list_context(request), nav="runs")

    @routes.get(f"{PREFIX}/runs/table")
    async def runs_table(request: Request) -> Response:
        await ui.admin(request)
        return ui.render(request, "partials/runs_table.html", await list_context(request))

    async def run_context(run_id: int) -> dict[str, Any]:
        try:
            found = await run_ops.detail(ui.app, run_id)
        except run_ops.RunNotFoundError:
            raise HTTPException(status_code=404, detail=f"no run {run_id}") from None
        event = await event_ops.detail(ui.app, found.run.event_id)
        return {
            "detail": found,
            "run": found.run,
            "event": event.event,
            "flow_name": (await flow_names()).get(found.run.flow_id, f"flow {found.run.flow_id}"),
            "final": found.run.status in {s.value for s in FINAL_RUN},
            "replayable": found.run.status in {s.value for s in REPLAYABLE_RUN},
        }

    @routes.get(f"{PREFIX}/runs/{{run_id}}")
    async def run_page(request: Request, run_id: int) -> Response:
        await ui.admin(request)
        context = await run_context(run_id)
        context["notice"] = "Replay queued." if request.query_params.get("replayed") else ""
        return ui.render(request, "run.html", context, nav="runs")

    @routes.get(f"{PREFIX}/runs/{{run_id}}/body")
    async def run_body(request: Request, run_id: int) -> Response:
        await ui.admin(request)
        return ui.render(request, "partials/run_body.html", await run_context(run_id))

    @routes.post(f"{PREFIX}/runs/{{run_id}}/replay")
    async def replay(request: Request, run_id: int) -> Response:
        await ui.form(request)
        who = request.state.session.token_name
        try:
            await run_ops.replay(ui.app, run_id, actor=f"web:{who}")
        except run_ops.RunNotFoundError:
            raise HTTPException(status_code=404, detail=f"no run {run_id}") from None
        except run_ops.RunStateError as exc:
            context = await run_context(run_id)
            context["error"] = exc.message
            return ui.render(request, "run.html", context, status_code=409, nav="runs")
        return RedirectResponse(f"{PREFIX}/runs/{run_id}?replayed=1", status_code=303)

    return routes
