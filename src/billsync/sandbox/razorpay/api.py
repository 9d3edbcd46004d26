"""The /v1 routes: Basic auth, then one small handler per Razorpay endpoint."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from billsync.sandbox.razorpay import (
    customer,
    expiry,
    fields,
    invoice,
    order,
    payment,
    payment_link,
    refund,
)
from billsync.sandbox.razorpay.auth import Guard
from billsync.sandbox.razorpay.state import State

Handler = Callable[[Request], Awaitable[Any]]


def routes(state: State) -> list[Route]:
    guard = Guard(state.config.key_id, state.config.key_secret)

    def route(path: str, method: str, handler: Handler) -> Route:
        async def endpoint(request: Request) -> Response:
            guard.check(request.headers.get("authorization"))
            expiry.sweep(state)
            return JSONResponse(await handler(request))

        endpoint.__name__ = handler.__name__
        return Route("/v1" + path, endpoint, methods=[method])

    def pid(request: Request, name: str = "id") -> str:
        return str(request.path_params[name])

    async def create_customer(request: Request) -> Any:
        return customer.create(state, await fields.body(request))

    async def list_customers(request: Request) -> Any:
        return customer.list_page(state, request.query_params)

    async def fetch_customer(request: Request) -> Any:
        return customer.get(state, pid(request))

    async def edit_customer(request: Request) -> Any:
        return customer.edit(state, pid(request), await fields.body(request))

    async def create_invoice(request: Request) -> Any:
        return invoice.create(state, await fields.body(request))

    async def list_invoices(request: Request) -> Any:
        return invoice.list_page(state, request.query_params)

    async def fetch_invoice(request: Request) -> Any:
        return invoice.get(state, pid(request))

    async def update_invoice(request: Request) -> Any:
        return invoice.update(state, pid(request), await fields.body(request))

    async def issue_invoice(request: Request) -> Any:
        fields.reject_unknown(await fields.body(request), ())
        return invoice.issue(state, pid(request))

    async def cancel_invoice(request: Request) -> Any:
        fields.reject_unknown(await fields.body(request), ())
        return invoice.cancel(state, pid(request))

    async def delete_invoice(request: Request) -> Any:
        return invoice.delete(state, pid(request))

    async def notify_invoice(request: Request) -> Any:
        return invoice.notify(state, pid(request), pid(request, "medium"))

    async def create_link(request: Request) -> Any:
        return payment_link.create(state, await fields.body(request))

    async def list_links(request: Request) -> Any:
        return payment_link.list_all(state, request.query_params)

    async def fetch_link(request: Request) -> Any:
        return payment_link.get(state, pid(request))

    async def edit_link(request: Request) -> Any:
        return payment_link.edit(state, pid(request), await fields.body(request))

    async def cancel_link(request: Request) -> Any:
        return payment_link.cancel(state, pid(request))

    async def notify_link(request: Request) -> Any:
        return payment_link.notify(state, pid(request), pid(request, "medium"))

    async def list_payments(request: Request) -> Any:
        return payment.list_page(state, request.query_params)

    async def fetch_payment(request: Request) -> Any:
        # `expand[]` is accepted and ignored: card/emi details are not simulated.
        fields.reject_unknown(request.query_params, ("expand[]",))
        return payment.get(state, pid(request))

    async def refund_payment(request: Request) -> Any:
        key = request.headers.get("x-refund-idempotency")
        return refund.create(state, pid(request), await fields.body(request), key)

    async def list_payment_refunds(request: Request) -> Any:
        return refund.payment_page(state, pid(request), request.query_params)

    async def fetch_payment_refund(request: Request) -> Any:
        return refund.get_for_payment(state, pid(request), pid(request, "refund_id"))

    async def create_refund(request: Request) -> Any:
        body = await fields.body(request)
        payment_id = str(fields.required(body, "payment_id"))
        rest = {k: v for k, v in body.items() if k != "payment_id"}
        key = request.headers.get("x-refund-idempotency")
        return refund.create(state, payment_id, rest, key)

    async def list_refunds(request: Request) -> Any:
        return refund.list_page(state, request.query_params)

    async def fetch_refund(request: Request) -> Any:
        return refund.get(state, pid(request))

    async def list_orders(request: Request) -> Any:
        return order.list_page(state, request.query_params)

    async def fetch_order(request: Request) -> Any:
        return order.get(state, pid(request))

    async def list_order_payments(request: Request) -> Any:
        return order.payments_page(state, pid(request), request.query_params)

    return [
        route("/customers", "POST", create_customer),
        route("/customers", "GET", list_customers),
        route("/customers/{id}", "GET", fetch_customer),
        route("/customers/{id}", "PUT", edit_customer),
        route("/invoices", "POST", create_invoice),
        route("/invoices", "GET", list_invoices),
        route("/invoices/{id}", "GET", fetch_invoice),
        route("/invoices/{id}", "PATCH", update_invoice),
        route("/invoices/{id}", "DELETE", delete_invoice),
        route("/invoices/{id}/issue", "POST", issue_invoice),
        route("/invoices/{id}/cancel", "POST", cancel_invoice),
        route("/invoices/{id}/notify_by/{medium}", "POST", notify_invoice),
        route("/payment_links", "POST", create_link),
        route("/payment_links", "GET", list_links),
        route("/payment_links/{id}", "GET", fetch_link),
        route("/payment_links/{id}", "PATCH", edit_link),
        route("/payment_links/{id}/cancel", "POST", cancel_link),
        route("/payment_links/{id}/notify_by/{medium}", "POST", notify_link),
        route("/payments", "GET", list_payments),
        route("/payments/{id}", "GET", fetch_payment),
        route("/payments/{id}/refund", "POST", refund_payment),
        route("/payments/{id}/refunds", "GET", list_payment_refunds),
        route("/payments/{id}/refunds/{refund_id}", "GET", fetch_payment_refund),
        route("/refunds", "POST", create_refund),
        route("/refunds", "GET", list_refunds),
        route("/refunds/{id}", "GET", fetch_refund),
        route("/orders", "GET", list_orders),
        route("/orders/{id}", "GET", fetch_order),
        route("/orders/{id}/payments", "GET", list_order_payments),
    ]
