"""Customers: POST/GET/PATCH /customers. A create also creates an account (given or derived)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from billsync.sandbox.togai import accounts, schemas
from billsync.sandbox.togai.context import TogaiContext
from billsync.sandbox.togai.errors import ApiError
from billsync.sandbox.togai.pagination import page, page_request
from billsync.sandbox.togai.responses import iso, json_response, now
from billsync.sandbox.togai.store import Record

_ADDRESS_ORDER = ("line1", "line2", "postalCode", "city", "state", "country")


def billing_address(address: Record) -> str:
    """Togai's flattened address: "2281 Broadway Street, G-31, 29501, Florence, ..."."""
    return ", ".join(address[k] for k in _ADDRESS_ORDER if address.get(k))


def routes(ctx: TogaiContext) -> list[Route]:
    store = ctx.store

    def get_or_404(customer_id: str) -> Record:
        customer = store.customers.get(customer_id)
        if customer is None:
            raise ApiError(404, f"Customer with id {customer_id} not found")
        return customer

    async def create_customer(request: Request) -> Response:
        body = await ctx.body(request, schemas.CREATE_CUSTOMER)
        if body["id"] in store.customers:
            raise ApiError(
                ctx.config.duplicate_id_status, f"Customer with id {body['id']} already exists"
            )
        # UNCONFIRMED: an auto-created account takes the customer's id, name and contact.
        account_body = body.get("account") or {
            "id": body["id"],
            "name": body["name"],
            "primaryEmail": body["primaryEmail"],
            "address": body["address"],
        }
        accounts.check_new_account_id(ctx, account_body["id"])
        stamp = iso(now())
        customer: Record = {
            "id": body["id"],
            "togaiCustomerId": ctx.togai_id("customer"),
            "name": body["name"],
            "primaryEmail": body["primaryEmail"],
            "billingAddress": billing_address(body["address"]),
            "address": body["address"],
            "status": "ACTIVE",
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        store.customers.add(customer["id"], customer)
        for setting in body.get("settings", ()):
            accounts.store_entity_setting(ctx, setting, "CUSTOMER", customer["id"])
        account = accounts.new_account(ctx, account_body, customer)
        ctx.events.account_created(account)
        response = {
            k: v for k, v in customer.items() if k not in ("status", "createdAt", "updatedAt")
        }
        if "settings" in body:
            response["settings"] = body["settings"]
        response["account"] = accounts.render_account(ctx, account)
        return json_response(response, 201)

    async def get_customer(request: Request) -> Response:
        return json_response(get_or_404(request.path_params["customer_id"]))

    async def list_customers(request: Request) -> Response:
        wanted = page_request(request, filters=("status",), default=50, maximum=100)
        status = wanted.filters.get("status")
        found, token = page(
            store.customers,
            wanted,
            lambda c: status is None or c["status"] == status,
            trailing_empty_page=ctx.config.trailing_empty_page,
        )
        return json_response(
            {
                "data": found,
                "nextToken": token,
                "context": {"pageSize": wanted.size, "sortOrder": "ASC"},
            }
        )

    async def update_customer(request: Request) -> Response:
        customer = get_or_404(request.path_params["customer_id"])
        body = await ctx.body(request, schemas.UPDATE_CUSTOMER)
        customer.update(body)
        if "address" in body:
            customer["billingAddress"] = billing_address(body["address"])
        customer["updatedAt"] = iso(now())
        return json_response(customer)

    return [
        Route("/customers", ctx.guard(create_customer), methods=["POST"]),
        Route("/customers", ctx.guard(list_customers), methods=["GET"]),
        Route("/customers/{customer_id}", ctx.guard(get_customer), methods=["GET"]),
        Route("/customers/{customer_id}", ctx.guard(update_customer), methods=["PATCH"]),
        # The same create on the control plane (no token, no faults, no rate limit, not
        # counted): a benchmark seeds accounts without spending the API's rate limit.
        Route("/_sandbox/customers", create_customer, methods=["POST"]),
    ]
