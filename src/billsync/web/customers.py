"""Customers: what a Togai account's Settings tab would show about Razorpay.

Search by either side's id (Togai account or invoice id, Razorpay customer or invoice id)
and see the account's Razorpay customer id, then its invoices with their Razorpay invoice
ids, and each invoice's status on both sides as they say it now (app/live.py: one list call
per side, through the connection's rate limit). The links come from the id mapping; when a
side cannot be read, its column shows what billsync stored (the events of the account's
runs and their steps' outputs) with how old it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from billsync.app import events as event_ops
from billsync.app import live
from billsync.app import mappings as mapping_ops
from billsync.app import runs as run_ops
from billsync.domain import LinkKind
from billsync.store.models import Run
from billsync.web.ui import PREFIX, Ui

#: Runs of one account read to collect its invoices.
_RUNS = 200
#: Recent events scanned to find the account of a searched invoice id.
_EVENTS = 500


@dataclass
class CustomerView:
    account_id: str
    customer_id: str | None = None
    account: dict[str, Any] = field(default_factory=dict)
    invoices: list[live.InvoiceStatus] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    togai: live.SideRead = field(default_factory=lambda: live.SideRead("togai"))
    razorpay: live.SideRead = field(default_factory=lambda: live.SideRead("razorpay"))


async def _account_of(ui: Ui, query: str) -> str | None:
    """The Togai account id a searched id belongs to, when billsync knows it."""
    for link in await mapping_ops.lookup(ui.app, query):
        if link.kind is LinkKind.ACCOUNT_CUSTOMER:
            return link.togai_id
        if link.kind is LinkKind.INVOICE_INVOICE:
            query = link.togai_id
    for event in await event_ops.list_events(ui.app, limit=_EVENTS):
        invoice = event.payload.get("invoice")
        if isinstance(invoice, dict) and query in (invoice.get("id"), _note(invoice)):
            owner = invoice.get("ownerId") or (invoice.get("notes") or {}).get("togai_account_id")
            if isinstance(owner, str) and owner:
                return owner
        account = event.payload.get("account")
        if isinstance(account, dict) and account.get("id") == query:
            return query
    found = await run_ops.list_runs(ui.app, run_ops.RunFilter(entity=query, limit=1))
    return query if found else None


def _note(invoice: dict[str, Any]) -> str | None:
    notes = invoice.get("notes")
    value = notes.get("togai_invoice_id") if isinstance(notes, dict) else None
    return value if isinstance(value, str) else None


async def customer_view(ui: Ui, account_id: str) -> CustomerView:
    """The account as both sides say now (app/live.py), over what billsync stored: the
    events of its runs and their steps' outputs, each with when it was stored."""
    view = CustomerView(account_id=account_id)
    for link in await mapping_ops.lookup(ui.app, account_id, kind=LinkKind.ACCOUNT_CUSTOMER):
        if link.togai_id == account_id:
            view.customer_id = link.razorpay_id
    view.runs = await run_ops.list_runs(
        ui.app, run_ops.RunFilter(entity=f"togai-account:{account_id}", limit=_RUNS)
    )
    invoices: dict[str, live.InvoiceStatus] = {}
    stored = live.Stored()
    # Oldest first, so the latest event of each invoice decides what is stored.
    for event_id in sorted({r.event_id for r in view.runs}):
        event = (await event_ops.detail(ui.app, event_id)).event
        payload = event.payload
        if isinstance(payload.get("account"), dict):
            view.account = payload["account"]
        invoice = payload.get("invoice")
        if not isinstance(invoice, dict):
            continue
        live.fold_event(payload, event.received_at, stored)
        togai_id = _note(invoice)
        if togai_id is not None:  # a Razorpay invoice billsync created
            row = invoices.setdefault(togai_id, live.InvoiceStatus(togai_id))
            row.razorpay_id = str(invoice.get("id"))
        elif isinstance(invoice.get("id"), str):
            row = invoices.setdefault(invoice["id"], live.InvoiceStatus(invoice["id"]))
            row.number = str(invoice.get("sequenceId") or "")
            row.amount = str(invoice.get("totalAmount", ""))
    # Then what the runs did (a payment recorded, an invoice cancelled), which events of
    # the account do not show.
    used = await live.stored_from_steps(ui.app, {r.id for r in view.runs}, stored)
    for row in invoices.values():
        if row.razorpay_id is None:
            for link in await mapping_ops.lookup(
                ui.app, row.togai_id, kind=LinkKind.INVOICE_INVOICE
            ):
                if link.togai_id == row.togai_id:
                    row.razorpay_id = link.razorpay_id
    view.invoices, view.togai, view.razorpay = await live.account_invoices(
        ui.app, account_id, view.customer_id, invoices, stored, used
    )
    return view


def router(ui: Ui) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get(f"{PREFIX}/customers")
    async def customers(request: Request) -> Response:
        await ui.admin(request)
        query = request.query_params.get("q", "").strip()
        context: dict[str, Any] = {"q": query, "view": None, "recent": []}
        if query:
            account_id = await _account_of(ui, query)
            if account_id is not None:
                context["view"] = await customer_view(ui, account_id)
        else:
            context["recent"] = await mapping_ops.list_recent(
                ui.app, kind=LinkKind.ACCOUNT_CUSTOMER, limit=25
            )
        return ui.render(request, "customers.html", context, nav="customers")

    return routes
