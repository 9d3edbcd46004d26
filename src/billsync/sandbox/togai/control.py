"""Togai-only control routes: invoices as the billing cycle would make them. Test use only."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from billsync.sandbox.togai import lifecycle, schemas
from billsync.sandbox.togai.context import TogaiContext
from billsync.sandbox.togai.errors import ApiError
from billsync.sandbox.togai.responses import json_response, now


def routes(ctx: TogaiContext, prefix: str = "/_sandbox") -> list[Route]:
    store = ctx.store

    async def create_invoice(request: Request) -> Response:
        """A STANDARD invoice for an account, in DRAFT (ongoing) or DUE (generated)."""
        body = await ctx.body(request, schemas.SANDBOX_INVOICE)
        account = store.accounts.get(body["accountId"])
        if account is None:
            raise ApiError(400, f"Account with id {body['accountId']} does not exist")
        if body["totalAmount"] < 0:
            raise ApiError(400, "totalAmount must not be negative")
        end = body.get("endDate") or now()
        start = body.get("startDate") or end - timedelta(days=30)
        if end < start:
            raise ApiError(400, "endDate must not be before startDate")
        plan = (
            body.get("pricePlanId", "pp.sandbox.plan"),
            body.get("pricePlanName", "Sandbox plan"),
        )
        invoice = lifecycle.new_invoice(
            ctx,
            account,
            invoice_type="STANDARD",
            total=body["totalAmount"],
            start=start,
            end=end,
            price_plan=plan,
            metadata=body.get("metadata"),
        )
        if body.get("status", "DRAFT") == "DUE":
            lifecycle.transition(ctx, invoice, "DUE")
        return json_response(invoice, 201)

    async def generate(request: Request) -> Response:
        invoice = lifecycle.get_invoice_or_404(ctx, request.path_params["invoice_id"])
        if invoice["status"] != "DRAFT":
            raise ApiError(400, f"Only a DRAFT invoice can be generated, not {invoice['status']}")
        lifecycle.transition(ctx, invoice, "DUE")
        return json_response(invoice)

    async def void(request: Request) -> Response:
        invoice = lifecycle.get_invoice_or_404(ctx, request.path_params["invoice_id"])
        lifecycle.transition(ctx, invoice, "VOID")
        return json_response(invoice)

    return [
        Route(f"{prefix}/invoices", create_invoice, methods=["POST"]),
        Route(f"{prefix}/invoices/{{invoice_id}}/generate", generate, methods=["POST"]),
        Route(f"{prefix}/invoices/{{invoice_id}}/void", void, methods=["POST"]),
    ]
