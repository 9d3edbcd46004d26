"""Razorpay-specific /_sandbox routes: a customer paying, and Razorpay expiring things.

The provider-neutral control routes (faults, webhooks, stats, reset) come from
sandbox.common; these act the part of the payer and of Razorpay's background jobs.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from billsync.sandbox.razorpay import checkout, expiry, fields, invoice, payment_link
from billsync.sandbox.razorpay.state import State


def routes(state: State, prefix: str = "/_sandbox") -> list[Route]:
    async def pay_invoice(request: Request) -> JSONResponse:
        expiry.sweep(state)
        body = await fields.body(request)
        paid, inv = checkout.pay_invoice(state, request.path_params["id"], body)
        return JSONResponse({"payment_id": paid["id"], "invoice": inv})

    async def expire_invoice(request: Request) -> JSONResponse:
        expiry.sweep(state)
        return JSONResponse(invoice.expire(state, request.path_params["id"]))

    async def pay_link(request: Request) -> JSONResponse:
        expiry.sweep(state)
        body = await fields.body(request)
        paid, link = checkout.pay_link(state, request.path_params["id"], body)
        return JSONResponse({"payment_id": paid["id"], "payment_link": link})

    async def expire_link(request: Request) -> JSONResponse:
        expiry.sweep(state)
        return JSONResponse(payment_link.expire(state, request.path_params["id"]))

    return [
        Route(f"{prefix}/invoices/{{id}}/pay", pay_invoice, methods=["POST"]),
        Route(f"{prefix}/invoices/{{id}}/expire", expire_invoice, methods=["POST"]),
        Route(f"{prefix}/payment_links/{{id}}/pay", pay_link, methods=["POST"]),
        Route(f"{prefix}/payment_links/{{id}}/expire", expire_link, methods=["POST"]),
    ]
