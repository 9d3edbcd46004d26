"""Accounts: POST/GET/PATCH /accounts. Each belongs to a customer; currency is per account."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from billsync.sandbox.togai import schemas
from billsync.sandbox.togai.context import TogaiContext
from billsync.sandbox.togai.errors import ApiError
from billsync.sandbox.togai.pagination import page, page_request
from billsync.sandbox.togai.responses import json_response
from billsync.sandbox.togai.settings import full_setting_id
from billsync.sandbox.togai.store import Record

_OPTIONAL = ("netTermDays", "address", "primaryEmail", "billingInformation", "metadata")
MAX_EMBEDDED = schemas.ACCOUNT_MAX_EMBEDDED


def new_account(ctx: TogaiContext, body: dict[str, Any], customer: Record) -> Record:
    """Store an account for `customer` from a (validated) create body; returns the record."""
    store = ctx.store
    account: Record = {
        "id": body["id"],
        "togaiAccountId": ctx.togai_id("account"),
        "togaiCustomerId": customer["togaiCustomerId"],
        "customerId": customer["id"],
        "name": body["name"],
        "status": body.get("status", "ACTIVE"),
        "invoiceCurrency": body.get("invoiceCurrency", ctx.config.base_currency).upper(),
    }
    aliases = [*body.get("aliases", ()), *(a["value"] for a in body.get("accountAliases", ()))]
    if len(aliases) > MAX_EMBEDDED and ctx.config.account_overflow == "refuse":
        raise ApiError(400, f"An account can have at most {MAX_EMBEDDED} aliases")
    if aliases:
        account["aliases"] = [{"alias": alias} for alias in aliases]
    for name in _OPTIONAL:
        if name in body:
            account[name] = body[name]
    if "tags" in body:
        account["tags"] = [tag.lower() for tag in body["tags"]]
    store.accounts.add(account["id"], account)
    for setting in body.get("settings", ()):
        store_entity_setting(ctx, setting, "ACCOUNT", account["id"])
    return account


def store_entity_setting(
    ctx: TogaiContext, setting: Record, entity_type: str, entity_id: str
) -> None:
    full = {**setting, "entityType": entity_type, "entityId": entity_id}
    ctx.store.put_setting(full_setting_id(full), full)


def render_account(ctx: TogaiContext, account: Record) -> Record:
    """The account as the API shows it: never more embedded items than the client parses."""
    settings = ctx.store.entity_settings("ACCOUNT", account["id"])
    shown = account
    if len(account.get("aliases", ())) > MAX_EMBEDDED:
        shown = {**account, "aliases": account["aliases"][:MAX_EMBEDDED]}
    if not settings:
        return shown
    return {**shown, "settings": [_entity_setting(s) for s in settings[:MAX_EMBEDDED]]}


def _entity_setting(setting: Record) -> Record:
    return {k: setting[k] for k in ("id", "value", "namespace", "name", "dataType")}


def get_account_or_404(ctx: TogaiContext, account_id: str) -> Record:
    account = ctx.store.accounts.get(account_id)
    if account is None:
        raise ApiError(404, f"Account with id {account_id} not found")
    return account


def check_new_account_id(ctx: TogaiContext, account_id: str) -> None:
    if account_id in ctx.store.accounts:
        raise ApiError(
            ctx.config.duplicate_id_status, f"Account with id {account_id} already exists"
        )


def routes(ctx: TogaiContext) -> list[Route]:
    store = ctx.store

    async def create_account(request: Request) -> Response:
        body = await ctx.body(request, schemas.CREATE_ACCOUNT)
        customer = store.customers.get(body["customerId"])
        if customer is None:
            raise ApiError(400, f"Customer with id {body['customerId']} does not exist")
        check_new_account_id(ctx, body["id"])
        account = new_account(ctx, body, customer)
        ctx.events.account_created(account)
        return json_response(render_account(ctx, account), 201)

    async def get_account(request: Request) -> Response:
        account = get_account_or_404(ctx, request.path_params["account_id"])
        return json_response(render_account(ctx, account))

    async def list_accounts(request: Request) -> Response:
        wanted = page_request(request, filters=("customer_id", "status"), default=50, maximum=100)
        customer_id = wanted.filters.get("customer_id")
        status = wanted.filters.get("status")

        def keep(account: Record) -> bool:
            return (customer_id is None or account["customerId"] == customer_id) and (
                status is None or account["status"] == status
            )

        found, token = page(
            store.accounts, wanted, keep, trailing_empty_page=ctx.config.trailing_empty_page
        )
        return json_response(
            {
                "data": [render_account(ctx, a) for a in found],
                "nextToken": token,
                "context": {"pageSize": wanted.size, "sortOrder": "ASC"},
            }
        )

    async def update_account(request: Request) -> Response:
        account = get_account_or_404(ctx, request.path_params["account_id"])
        body = await ctx.body(request, schemas.UPDATE_ACCOUNT)
        currency = body.pop("invoiceCurrency", None)
        if currency is not None and currency.upper() != account["invoiceCurrency"]:
            if any(i["ownerId"] == account["id"] for i in store.invoices.values()):
                raise ApiError(400, "invoiceCurrency cannot change once the account has invoices")
            account["invoiceCurrency"] = currency.upper()
        if "tags" in body:
            body["tags"] = [tag.lower() for tag in body["tags"]]
        account.update(body)  # metadata is replaced as a whole, as documented
        return json_response(render_account(ctx, account))

    return [
        Route("/accounts", ctx.guard(create_account), methods=["POST"]),
        Route("/accounts", ctx.guard(list_accounts), methods=["GET"]),
        Route("/accounts/{account_id}", ctx.guard(get_account), methods=["GET"]),
        Route("/accounts/{account_id}", ctx.guard(update_account), methods=["PATCH"]),
    ]
