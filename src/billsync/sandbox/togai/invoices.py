"""Invoices: list, get, PATCH (status and custom-invoice fields), custom invoice create."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from billsync.sandbox.togai import lifecycle, schemas
from billsync.sandbox.togai.context import TogaiContext
from billsync.sandbox.togai.errors import ApiError
from billsync.sandbox.togai.pagination import page, page_request
from billsync.sandbox.togai.responses import iso, json_response, now
from billsync.sandbox.togai.store import Record
from billsync.sandbox.togai.validation import parse_datetime

STATUSES = frozenset(
    {
        "DRAFT",
        "DUE",
        "PAID",
        "VOID",
        "UN_COLLECTIBLE",
        "REFUND_INITIATED",
        "REFUND_COMPLETED",
        "MERGED",
        "PARTIALLY_PAID",
    }
)


def line_total(lines: list[Record]) -> Decimal:
    total = Decimal(0)
    for i, line in enumerate(lines):
        if "value" in line:
            total += line["value"]
        elif "quantity" in line and "valuePerQuantity" in line:
            total += line["quantity"] * line["valuePerQuantity"]
        else:
            raise ApiError(400, f"lineItems[{i}] needs value, or quantity and valuePerQuantity")
    return total


def _epoch_ms(raw: str, name: str) -> datetime:
    try:
        return datetime.fromtimestamp(int(raw) / 1000, UTC)
    except (ValueError, OverflowError):
        raise ApiError(400, f"{name} must be epoch milliseconds") from None


def routes(ctx: TogaiContext) -> list[Route]:
    store = ctx.store
    time_field = ctx.config.invoice_time_filter_field

    async def list_invoices(request: Request) -> Response:
        wanted = page_request(
            request,
            filters=("status", "owner_id", "customer_id", "start_time", "end_time"),
            default=50,
            maximum=50,
        )
        f = wanted.filters
        statuses = set(f["status"].split(",")) if "status" in f else None
        if statuses is not None and not statuses <= STATUSES:
            raise ApiError(400, f"status must be among {', '.join(sorted(STATUSES))}")
        start = _epoch_ms(f["start_time"], "start_time") if "start_time" in f else None
        end = _epoch_ms(f["end_time"], "end_time") if "end_time" in f else None

        def keep(invoice: Record) -> bool:
            if statuses is not None and invoice["status"] not in statuses:
                return False
            if "owner_id" in f and invoice["ownerId"] != f["owner_id"]:
                return False
            if "customer_id" in f and invoice["customerId"] != f["customer_id"]:
                return False
            if start is not None or end is not None:
                moment = invoice.get(time_field)
                if moment is None:
                    return False
                when = parse_datetime(moment, time_field)
                if (start is not None and when < start) or (end is not None and when > end):
                    return False
            return True

        found, token = page(
            store.invoices, wanted, keep, trailing_empty_page=ctx.config.trailing_empty_page
        )
        return json_response({"data": [lifecycle.summary(i) for i in found], "nextToken": token})

    async def get_invoice(request: Request) -> Response:
        return json_response(lifecycle.get_invoice_or_404(ctx, request.path_params["invoice_id"]))

    async def update_invoice(request: Request) -> Response:
        invoice = lifecycle.get_invoice_or_404(ctx, request.path_params["invoice_id"])
        # update_invoice's body is optional in togai-client: called without one, it sends none.
        body = await ctx.body(request, schemas.UPDATE_INVOICE, optional=True)
        status = body.pop("status", None)
        if status is not None:
            # Refuse before changing anything, so a bad PATCH leaves the invoice as it was.
            if status == "PAID" and not ctx.config.allow_patch_paid:
                raise ApiError(400, "Payment should be recorded to mark an invoice as paid")
            lifecycle.check_transition(invoice, status)
            if status == "DUE" and invoice["invoiceType"] == "CUSTOM":
                # The creation rule holds for the transition too: a DUE custom invoice
                # cannot be future-dated (changelog 21 Jan 2024), however it gets there.
                end = body.get("endDate") or parse_datetime(invoice["endDate"], "endDate")
                _not_future_dated(status, end)
        if body:
            _update_custom_fields(ctx, invoice, body)
        if status is not None:
            lifecycle.transition(ctx, invoice, status)
        return json_response(invoice)

    async def create_custom_invoice(request: Request) -> Response:
        body = await ctx.body(request, schemas.CREATE_CUSTOM_INVOICE)
        key = body.get("idempotencyKey")
        if key is not None and key in store.idempotency_keys:
            return json_response(store.invoices.items[store.idempotency_keys[key]], 201)
        if body.get("ownerType", "ACCOUNT") != "ACCOUNT":
            raise ApiError(400, "The sandbox has no invoice groups: ownerType must be ACCOUNT")
        account = store.accounts.get(body["accountId"])
        if account is None:
            raise ApiError(400, f"Account with id {body['accountId']} does not exist")
        start, end = body["startDate"], body["endDate"]
        if end < start:
            raise ApiError(400, "endDate must not be before startDate")
        if body["status"] != "DRAFT":
            _not_future_dated(body["status"], end)
        total = line_total(body["lineItems"])
        invoice = lifecycle.new_invoice(
            ctx,
            account,
            invoice_type="CUSTOM",
            total=total,
            start=start,
            end=end,
            auto_advance=body.get("autoAdvance", True),
        )
        store.invoice_lines[invoice["id"]] = body["lineItems"]
        if key is not None:
            store.idempotency_keys[key] = invoice["id"]
        if body["status"] in ("DUE", "PAID"):
            lifecycle.transition(ctx, invoice, "DUE")
        if body["status"] == "PAID":
            lifecycle.transition(ctx, invoice, "PAID")
        return json_response(invoice, 201)

    return [
        Route("/invoices", ctx.guard(list_invoices), methods=["GET"]),
        Route("/invoices", ctx.guard(create_custom_invoice), methods=["POST"]),
        Route("/invoices/{invoice_id}", ctx.guard(get_invoice), methods=["GET"]),
        Route("/invoices/{invoice_id}", ctx.guard(update_invoice), methods=["PATCH"]),
    ]


def _not_future_dated(status: str, end: datetime) -> None:
    if end > now():
        raise ApiError(400, f"A {status} custom invoice cannot be future-dated")


def _update_custom_fields(ctx: TogaiContext, invoice: Record, body: dict[str, Any]) -> None:
    """Only CUSTOM invoices in DRAFT may change more than their status."""
    if invoice["invoiceType"] != "CUSTOM" or invoice["status"] != "DRAFT":
        raise ApiError(400, "Only CUSTOM invoices in DRAFT can change fields other than status")
    if "lineItems" in body:
        ctx.store.invoice_lines[invoice["id"]] = body["lineItems"]
        invoice["totalAmount"] = line_total(body["lineItems"])
    if "startDate" in body or "endDate" in body:
        start = body.get("startDate") or parse_datetime(invoice["startDate"], "startDate")
        end = body.get("endDate") or parse_datetime(invoice["endDate"], "endDate")
        if end < start:
            raise ApiError(400, "endDate must not be before startDate")
        lifecycle.set_period(invoice, start, end)
    if "autoAdvance" in body:
        invoice["autoAdvance"] = body["autoAdvance"]
    invoice["updatedAt"] = iso(now())
