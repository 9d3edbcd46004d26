"""Actions on Razorpay customers: create (idempotent on the account mapping) and update."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel

from billsync import errors
from billsync.connectors.razorpay import models
from billsync.connectors.razorpay.client import RazorpayClient
from billsync.connectors.razorpay.customer_name import customer_name
from billsync.connectors.razorpay.reference import DRY_RUN_ID, notes
from billsync.connectors.spec import ActionContext, ActionResult, preview_only
from billsync.domain import IdLink, LinkKind, Side

#: After an ambiguous failure without email/contact, how many newest customers to scan
#: for our notes (Razorpay lists newest first, so a lost create is on the first page).
RECOVERY_SCAN = 200


_PHONE_PUNCTUATION = re.compile(r"[\s\-().]")


def contact_number(value: str | None) -> str | None:
    """A phone number as Razorpay takes it (≤15 chars incl. country code): no spaces or dashes.

    Togai stores free-form phone numbers ("+91 98765-43210"); the digits are all that matter.
    """
    if not value:
        return None
    return _PHONE_PUNCTUATION.sub("", value) or None


class CreateCustomerInput(BaseModel):
    togai_account_id: str
    togai_customer_id: str | None = None
    name: str
    email: str | None = None
    contact: str | None = None


class CustomerOutput(BaseModel):
    customer_id: str
    name: str | None = None
    email: str | None = None
    contact: str | None = None
    source: Literal["mapping", "created", "existing", "updated", "unchanged", "preview"]
    #: dry run only: the request body that would have been sent
    would_send: dict[str, Any] | None = preview_only()


class UpdateCustomerInput(BaseModel):
    customer_id: str
    name: str | None = None
    email: str | None = None
    contact: str | None = None


def _out(customer: models.Customer, source: Any) -> CustomerOutput:
    return CustomerOutput(
        customer_id=customer.id,
        name=customer.name,
        email=customer.email,
        contact=customer.contact,
        source=source,
    )


async def create_customer(ctx: ActionContext, data: CreateCustomerInput) -> ActionResult:
    mapped = await ctx.ids.find(LinkKind.ACCOUNT_CUSTOMER, Side.TOGAI, data.togai_account_id)
    if mapped:
        return ActionResult(
            CustomerOutput(
                customer_id=mapped,
                name=customer_name(data.name),
                email=data.email,
                contact=data.contact,
                source="mapping",
            )
        )
    client: RazorpayClient = ctx.client
    name = customer_name(data.name)
    request = models.CustomerCreate(
        name=name,
        email=data.email or None,
        contact=contact_number(data.contact),
        # Natural idempotency: "0" returns the customer with this (email, contact).
        fail_existing="0",
        notes=notes(
            togai_account_id=data.togai_account_id,
            togai_customer_id=data.togai_customer_id,
            # The name as typed in Togai, when Razorpay's alphabet could not carry it.
            togai_account_name=data.name if data.name != name else None,
        ),
    )
    if ctx.dry_run:
        return ActionResult(
            CustomerOutput(
                customer_id=DRY_RUN_ID,
                name=request.name,
                email=request.email,
                contact=request.contact,
                source="preview",
                would_send=request.model_dump(exclude_none=True),
            )
        )
    if ctx.after_ambiguous_failure and not (request.email or request.contact):
        # Without an (email, contact) pair Razorpay cannot match an earlier create.
        found = await _find_by_account(client, data.togai_account_id)
        if found is not None:
            return _linked(data, _out(found, "created"))
    customer = await client.create_customer(request)
    # A customer carrying another account's notes (or none) pre-existed on (email, contact).
    ours = customer.notes.get("togai_account_id") == data.togai_account_id
    return _linked(data, _out(customer, "created" if ours else "existing"))


def _linked(data: CreateCustomerInput, out: CustomerOutput) -> ActionResult:
    link = IdLink(LinkKind.ACCOUNT_CUSTOMER, data.togai_account_id, out.customer_id)
    return ActionResult(out, links=(link,))


async def _find_by_account(client: RazorpayClient, account_id: str) -> models.Customer | None:
    seen = 0
    async for customer in client.iter_customers():
        if customer.notes.get("togai_account_id") == account_id:
            return customer
        seen += 1
        if seen >= RECOVERY_SCAN:
            break
    return None


async def update_customer(ctx: ActionContext, data: UpdateCustomerInput) -> ActionResult:
    client: RazorpayClient = ctx.client
    current = await client.fetch_customer(data.customer_id)
    # The same derivation as on create, so an unchanged Togai name is no change here. The
    # notes are not rewritten: PUT may only take name, email and contact (UNCONFIRMED for
    # notes), so togai_account_name keeps the name the customer was created with.
    name = customer_name(data.name) if data.name else None
    contact = contact_number(data.contact)
    request = models.CustomerEdit(
        name=name if name and name != current.name else None,
        email=data.email if data.email and data.email != current.email else None,
        contact=contact if contact and contact != current.contact else None,
    )
    changes = request.model_dump(exclude_none=True)
    if not changes:
        return ActionResult(_out(current, "unchanged"))
    if ctx.dry_run:
        preview = _out(current.model_copy(update=changes), "preview")
        preview.would_send = changes
        return ActionResult(preview)
    try:
        updated = await client.edit_customer(data.customer_id, request)
    except errors.RejectedError as exc:
        if exc.message.rstrip(".").endswith("Customer already exists for the merchant"):
            raise errors.RejectedError(
                f"razorpay update customer: another customer already has this email and "
                f"contact ({exc.message})",
                app=exc.app,
                operation=exc.operation,
                status=exc.status,
                code=exc.code,
                field="email",
                reason="duplicate_customer",
                internal_message=exc.internal_message,
            ) from exc
        raise
    return ActionResult(_out(updated, "updated"))
