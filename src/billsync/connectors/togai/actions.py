"""Togai actions that read entities or write settings (record_payment is in payment.py).

Settings are idempotent by construction: the full setting id is deterministic, so every
attempt reads the current value, compares, and inserts or PATCHes only when it differs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from billsync import errors
from billsync.connectors.spec import ActionContext, ActionResult
from billsync.connectors.togai.client import TogaiClient
from billsync.connectors.togai.models import Setting

SettingSource = Literal["created", "updated", "unchanged"]


class SetAccountSettingIn(BaseModel):
    account_id: str
    value: str
    setting_id: str = "RazorPayCustomerId"
    namespace: str = "USER"
    entity_type: str = "ACCOUNT"
    data_type: str = "STRING"


class SettingOut(BaseModel):
    full_id: str
    id: str
    value: str
    source: SettingSource


class SetInvoiceSettingIn(BaseModel):
    invoice_id: str
    razorpay_invoice_id: str
    razorpay_invoice_url: str | None = None
    id_setting: str = "RazorPayInvoiceId"
    url_setting: str = "RazorPayInvoiceUrl"
    #: Togai documents neither for invoice settings (UNCONFIRMED): overridable per flow.
    namespace: str = "USER"
    entity_type: str = "INVOICE"


class SetInvoiceSettingOut(BaseModel):
    settings: list[SettingOut]


class GetAccountIn(BaseModel):
    account_id: str


class GetInvoiceIn(BaseModel):
    invoice_id: str


async def upsert_setting(ctx: ActionContext, wanted: Setting) -> SettingOut:
    """Make `wanted` the stored setting: get → compare → insert or PATCH (or nothing)."""
    client: TogaiClient = ctx.client
    full_id = wanted.full_id
    current = await _get_setting(client, full_id)
    if current is None:
        if not ctx.dry_run:
            try:
                await client.insert_setting(wanted)
            except errors.RejectedError:
                # Someone (or our own lost attempt) created it meanwhile: fall through to
                # compare-and-update; if it still does not exist the refusal was real.
                current = await _get_setting(client, full_id)
                if current is None:
                    raise
        if current is None:
            return SettingOut(full_id=full_id, id=wanted.id, value=wanted.value, source="created")
    if current.value == wanted.value:
        return SettingOut(full_id=full_id, id=wanted.id, value=current.value, source="unchanged")
    if not ctx.dry_run:
        await client.update_setting(full_id, value=wanted.value, data_type=wanted.data_type)
    return SettingOut(full_id=full_id, id=wanted.id, value=wanted.value, source="updated")


async def _get_setting(client: TogaiClient, full_id: str) -> Setting | None:
    try:
        return await client.get_setting(full_id)
    except errors.NotFoundError:
        return None


async def set_account_setting(ctx: ActionContext, data: SetAccountSettingIn) -> ActionResult:
    wanted = Setting(
        id=data.setting_id,
        name=data.setting_id,
        value=data.value,
        namespace=data.namespace,
        entity_type=data.entity_type,
        entity_id=data.account_id,
        data_type=data.data_type,
    )
    return ActionResult(output=await upsert_setting(ctx, wanted))


async def set_invoice_setting(ctx: ActionContext, data: SetInvoiceSettingIn) -> ActionResult:
    values = [(data.id_setting, data.razorpay_invoice_id)]
    if data.razorpay_invoice_url:
        values.append((data.url_setting, data.razorpay_invoice_url))
    results = []
    for setting_id, value in values:
        wanted = Setting(
            id=setting_id,
            name=setting_id,
            value=value,
            namespace=data.namespace,
            entity_type=data.entity_type,
            entity_id=data.invoice_id,
            data_type="STRING",
        )
        results.append(await upsert_setting(ctx, wanted))
    return ActionResult(output=SetInvoiceSettingOut(settings=results))


async def get_account(ctx: ActionContext, data: GetAccountIn) -> ActionResult:
    client: TogaiClient = ctx.client
    return ActionResult(output=await client.get_account(data.account_id))


async def get_invoice(ctx: ActionContext, data: GetInvoiceIn) -> ActionResult:
    client: TogaiClient = ctx.client
    return ActionResult(output=await client.get_invoice(data.invoice_id))
