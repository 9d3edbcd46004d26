"""Togai actions that read entities or write settings (record_payment is in payment.py).

Settings are idempotent by construction: the full setting id is deterministic. A normal
attempt inserts first (one request for a new setting, the common case) and only when Togai
refuses the insert reads, compares and PATCHes if the value differs. After an ambiguous
failure, and in a dry run, it reads first (get → compare → write).
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import BaseModel

from billsync import errors
from billsync.connectors.spec import ActionContext, ActionResult
from billsync.connectors.togai.client import TogaiClient
from billsync.connectors.togai.models import Setting

#: A dry run says what it would do ("would_create", "would_update"), never that it wrote.
SettingSource = Literal["created", "updated", "unchanged", "would_create", "would_update"]


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
    """Make `wanted` the stored setting: insert first, or get → compare → insert or PATCH."""
    client: TogaiClient = ctx.client
    full_id = wanted.full_id
    if ctx.after_ambiguous_failure or ctx.dry_run:
        # The last attempt may have written it (or this is a preview): look before writing.
        current = await _get_setting(client, full_id)
        if current is None and not ctx.dry_run:
            current = await _insert_or_get(client, wanted)
    else:
        current = await _insert_or_get(client, wanted)
    if current is None:
        return _out(wanted, "would_create" if ctx.dry_run else "created")
    if current.value == wanted.value:
        return SettingOut(full_id=full_id, id=wanted.id, value=current.value, source="unchanged")
    if ctx.dry_run:
        return _out(wanted, "would_update")
    await client.update_setting(full_id, value=wanted.value, data_type=wanted.data_type)
    return _out(wanted, "updated")


async def _insert_or_get(client: TogaiClient, wanted: Setting) -> Setting | None:
    """Insert `wanted` (→ None), or return the stored setting when Togai refuses the insert.

    What Togai answers for a duplicate insert is UNCONFIRMED (the sandbox: 400 or 409), so any
    refusal counts except credentials (AuthError) and rate limits, which are not about the
    setting; if the setting then does not exist the refusal was about our body: re-raise it.
    """
    try:
        await client.insert_setting(wanted)
    except (errors.RejectedError, errors.NotFoundError):
        current = await _get_setting(client, wanted.full_id)
        if current is None:
            raise
        return current
    return None


def _out(wanted: Setting, source: SettingSource) -> SettingOut:
    return SettingOut(full_id=wanted.full_id, id=wanted.id, value=wanted.value, source=source)


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
    """Both settings at once: they are independent keys, and each write is idempotent on its
    own, so writing them side by side saves a round trip per invoice. Both always run to the
    end (a failure of one does not cut the other off mid-request, which would make it
    ambiguous); the step fails with an ambiguous failure if either had one, else the first."""
    values = [(data.id_setting, data.razorpay_invoice_id)]
    if data.razorpay_invoice_url:
        values.append((data.url_setting, data.razorpay_invoice_url))
    wanted = [
        Setting(
            id=setting_id,
            name=setting_id,
            value=value,
            namespace=data.namespace,
            entity_type=data.entity_type,
            entity_id=data.invoice_id,
            data_type="STRING",
        )
        for setting_id, value in values
    ]
    outcomes = await asyncio.gather(
        *(upsert_setting(ctx, w) for w in wanted), return_exceptions=True
    )
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures:
        # An ambiguous failure goes first: the step's next attempt then reads before writing.
        raise next((f for f in failures if getattr(f, "ambiguous", False)), failures[0])
    results = [o for o in outcomes if not isinstance(o, BaseException)]
    return ActionResult(output=SetInvoiceSettingOut(settings=results))


async def get_account(ctx: ActionContext, data: GetAccountIn) -> ActionResult:
    client: TogaiClient = ctx.client
    return ActionResult(output=await client.get_account(data.account_id))


async def get_invoice(ctx: ActionContext, data: GetInvoiceIn) -> ActionResult:
    client: TogaiClient = ctx.client
    return ActionResult(output=await client.get_invoice(data.invoice_id))
