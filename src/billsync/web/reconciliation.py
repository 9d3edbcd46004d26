"""Reconciliation: start a comparison of both sides, read its counts and items, fix the
selected items after a confirmation.

The overview lists the connection pairs flows bind, each pair's newest reconciliation
with its counts by state, and the history. A reconciliation's page filters its items by
state and kind, links each to both sides (the Customers page for accounts and invoices)
and to the runs a fix started, and refreshes itself while the comparison runs. Fixing is
two steps: the selected items and what would be done to each, then "Confirm".
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from billsync import errors
from billsync.app.reconciliation_reports import (
    ReconciliationInputError,
    ReconciliationNotFoundError,
    ReconciliationStateError,
)
from billsync.engine.reconcile.model import STATE_ORDER, ItemKind, ItemState
from billsync.store.reconciliations import Origin
from billsync.web.ui import PREFIX, Ui, text

PAGE = 100
#: Item states users filter by, drift first.
STATES = [s.value for s in STATE_ORDER]
KINDS = [k.value for k in ItemKind]
#: Kinds whose ids the Customers page can look up (a payment's Togai id is its invoice).
LINKED = {"customer", "invoice", "payment"}


def _since(value: str) -> datetime | None:
    if not value:
        return None
    return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)


def _ids(values: list[Any]) -> list[int]:
    return [int(v) for v in values if isinstance(v, str) and v.isdigit()]


def router(ui: Ui) -> APIRouter:
    routes = APIRouter(include_in_schema=False)
    service = ui.app.reconciliations

    async def names() -> dict[int, str]:
        return await service.connection_names()

    async def overview_context() -> dict[str, Any]:
        try:
            pairs = await service.pairs()
        except errors.SyncError as exc:
            pairs, problem = [], exc.message
        else:
            problem = ""
        return {
            "pairs": pairs,
            "latest": await service.latest_per_pair(),
            "history": await service.list_recent(limit=20),
            "names": await names(),
            "states": STATES,
            "problem": problem,
        }

    @routes.get(f"{PREFIX}/reconciliation")
    async def overview(request: Request) -> Response:
        await ui.admin(request)
        return ui.render(request, "reconciliation.html", await overview_context(), nav="recon")

    @routes.post(f"{PREFIX}/reconciliation/start")
    async def start(request: Request) -> Response:
        data = await ui.form(request)
        who = request.state.session.token_name
        chosen = text(data, "pair")
        togai = razorpay = None
        if chosen and chosen != "all":
            left, _, right = chosen.partition(":")
            togai = int(left) if left.isdigit() else None
            razorpay = int(right) if right.isdigit() else None
        try:
            since = _since(text(data, "since"))
            rows = await service.start(
                togai_connection_id=togai,
                razorpay_connection_id=razorpay,
                since=since,
                origin=Origin.UI,
                actor=f"web:{who}",
            )
        except (ValueError, ReconciliationInputError) as exc:
            message = exc.message if isinstance(exc, errors.SyncError) else "since: not a date"
            context = await overview_context()
            context["error"] = message
            return ui.render(request, "reconciliation.html", context, status_code=422, nav="recon")
        return RedirectResponse(f"{PREFIX}/reconciliation/{rows[0].id}", status_code=303)

    async def detail_context(request: Request, reconciliation_id: int) -> dict[str, Any]:
        try:
            row = await service.get(reconciliation_id)
        except ReconciliationNotFoundError:
            raise HTTPException(404, f"no reconciliation {reconciliation_id}") from None
        params = request.query_params
        chosen = {"state": params.get("state", ""), "kind": params.get("kind", "")}
        after = params.get("after", "")
        page = await service.items(
            row.id,
            states=[ItemState(chosen["state"])] if chosen["state"] in STATES else [],
            kinds=[ItemKind(chosen["kind"])] if chosen["kind"] in KINDS else [],
            after_id=int(after) if after.isdigit() else None,
            limit=PAGE,
        )
        return {
            "r": row,
            "names": await names(),
            "items": page.items,
            "next_after": page.next_after,
            "chosen": chosen,
            "states": STATES,
            "kinds": KINDS,
            "linked": LINKED,
            "running": row.status == "running",
        }

    @routes.get(f"{PREFIX}/reconciliation/{{reconciliation_id}}")
    async def detail(request: Request, reconciliation_id: int) -> Response:
        await ui.admin(request)
        context = await detail_context(request, reconciliation_id)
        fixed = request.query_params.get("fixed", "")
        context["notice"] = f"Fix started for {fixed} item(s)." if fixed.isdigit() else ""
        return ui.render(request, "reconciliation_detail.html", context, nav="recon")

    @routes.get(f"{PREFIX}/reconciliation/{{reconciliation_id}}/body")
    async def body(request: Request, reconciliation_id: int) -> Response:
        await ui.admin(request)
        context = await detail_context(request, reconciliation_id)
        return ui.render(request, "partials/reconciliation_body.html", context)

    @routes.post(f"{PREFIX}/reconciliation/{{reconciliation_id}}/fix")
    async def fix(request: Request, reconciliation_id: int) -> Response:
        data = await ui.form(request)
        who = request.state.session.token_name
        item_ids = _ids(data.getlist("item"))
        context = await detail_context(request, reconciliation_id)
        if not item_ids:
            context["error"] = "Select at least one item to fix."
            return ui.render(
                request, "reconciliation_detail.html", context, status_code=422, nav="recon"
            )
        if text(data, "confirmed") != "1":
            chosen = await service.items_by_id(reconciliation_id, item_ids)
            context["selected"] = chosen
            return ui.render(request, "reconciliation_confirm.html", context, nav="recon")
        try:
            outcomes = await service.fix(reconciliation_id, item_ids, actor=f"web:{who}")
        except (ReconciliationInputError, ReconciliationStateError) as exc:
            context["error"] = exc.message
            status = 409 if isinstance(exc, ReconciliationStateError) else 422
            return ui.render(
                request, "reconciliation_detail.html", context, status_code=status, nav="recon"
            )
        except errors.SyncError as exc:
            context["error"] = f"The fix could not be started: {exc.message}"
            return ui.render(
                request, "reconciliation_detail.html", context, status_code=502, nav="recon"
            )
        url = f"{PREFIX}/reconciliation/{reconciliation_id}?fixed={len(outcomes)}"
        return RedirectResponse(url, status_code=303)

    return routes
