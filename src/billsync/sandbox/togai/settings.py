"""Settings: key/value pairs on entities, addressed by their full id.

The full id is `setting.<namespace>.<id>.<entityType>.<entityId>` (UNCONFIRMED, from one example).
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from billsync.sandbox.togai import schemas
from billsync.sandbox.togai.context import TogaiContext
from billsync.sandbox.togai.errors import ApiError
from billsync.sandbox.togai.pagination import page, page_request
from billsync.sandbox.togai.responses import json_response
from billsync.sandbox.togai.store import Record

# UNCONFIRMED spellings beyond ACCOUNT and ORGANIZATION (the only two in Togai's examples).
ENTITY_TYPES = frozenset(
    {
        "ORGANIZATION",
        "CUSTOMER",
        "ACCOUNT",
        "INVOICE_GROUP",
        "EVENT_SCHEMA",
        "USAGE_METER",
        "ADD_ON",
        "FEATURE",
        "PRICE_PLAN",
        "INVOICE",
    }
)


def full_setting_id(setting: Record) -> str:
    return (
        f"setting.{setting['namespace']}.{setting['id']}."
        f"{setting['entityType']}.{setting['entityId']}"
    )


def _check_value(value: str, data_type: str) -> None:
    if data_type == "NUMERIC":
        try:
            Decimal(value)
        except InvalidOperation:
            raise ApiError(400, "value must be numeric for dataType NUMERIC") from None
    elif data_type in ("JSON", "JSON_LOGIC"):
        try:
            json.loads(value)
        except ValueError:
            raise ApiError(400, f"value must be a JSON string for dataType {data_type}") from None


def _check_room(ctx: TogaiContext, entity_type: str, entity_id: str) -> None:
    """With account_overflow="refuse", an account's 11th setting is refused (UNCONFIRMED)."""
    if entity_type != "ACCOUNT" or ctx.config.account_overflow != "refuse":
        return
    limit = schemas.ACCOUNT_MAX_EMBEDDED
    if len(ctx.store.entity_settings(entity_type, entity_id)) >= limit:
        raise ApiError(400, f"An account can have at most {limit} settings")


def routes(ctx: TogaiContext) -> list[Route]:
    store = ctx.store
    known = {"CUSTOMER": store.customers, "ACCOUNT": store.accounts, "INVOICE": store.invoices}

    def get_or_404(full_id: str) -> Record:
        setting = store.settings.get(full_id)
        if setting is None:
            raise ApiError(404, f"Setting {full_id} not found")
        return setting

    async def insert_setting(request: Request) -> Response:
        body = await ctx.body(request, schemas.SETTING)
        entity_type = body["entityType"]
        if entity_type not in ENTITY_TYPES:
            raise ApiError(400, f"entityType must be one of {', '.join(sorted(ENTITY_TYPES))}")
        collection = known.get(entity_type)
        if collection is not None and body["entityId"] not in collection:
            raise ApiError(400, f"{entity_type} with id {body['entityId']} does not exist")
        _check_value(body["value"], body["dataType"])
        full_id = full_setting_id(body)
        if full_id in store.settings:
            raise ApiError(ctx.config.duplicate_setting_status, f"Setting {full_id} already exists")
        _check_room(ctx, entity_type, body["entityId"])
        setting = {k: body[k] for k in schemas.SETTING}
        store.put_setting(full_id, setting)
        return json_response(setting, 201)

    async def list_settings(request: Request) -> Response:
        wanted = page_request(
            request,
            filters=("entity_type", "entity_id", "setting_id", "namespace"),
            default=50,
            maximum=100,
        )
        want = {
            field: wanted.filters[param]
            for param, field in (
                ("entity_type", "entityType"),
                ("entity_id", "entityId"),
                ("setting_id", "id"),
                ("namespace", "namespace"),
            )
            if param in wanted.filters
        }
        found, token = page(
            store.settings,
            wanted,
            lambda s: all(s[field] == value for field, value in want.items()),
            trailing_empty_page=ctx.config.trailing_empty_page,
        )
        return json_response(
            {
                "data": found,
                "nextToken": token,
                "context": {"pageSize": wanted.size, "sortOrder": "ASC"},
            }
        )

    async def get_setting(request: Request) -> Response:
        return json_response(get_or_404(request.path_params["setting_id"]))

    async def update_setting(request: Request) -> Response:
        setting = get_or_404(request.path_params["setting_id"])
        body = await ctx.body(request, schemas.UPDATE_SETTING)
        merged = {**setting, **body}
        _check_value(merged["value"], merged["dataType"])
        setting.update(body)
        # Togai answers 201 here; the official client returns None for a 200.
        return json_response(setting, 201)

    return [
        Route("/settings", ctx.guard(insert_setting), methods=["POST"]),
        Route("/settings", ctx.guard(list_settings), methods=["GET"]),
        Route("/settings/{setting_id}", ctx.guard(get_setting), methods=["GET"]),
        Route("/settings/{setting_id}", ctx.guard(update_setting), methods=["PATCH"]),
    ]
