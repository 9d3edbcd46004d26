"""Create a Razorpay payment link for a Togai invoice, keyed by reference_id."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, field_validator

from billsync import errors
from billsync.connectors.razorpay import models
from billsync.connectors.razorpay.client import RazorpayClient
from billsync.connectors.razorpay.errors import APP
from billsync.connectors.razorpay.reference import DRY_RUN_ID, natural_key, notes, to_minor
from billsync.connectors.spec import ActionContext, ActionResult, preview_only
from billsync.domain import LinkKind, Side

#: Razorpay's refusal of a second link with the same reference_id.
_DUPLICATE = "reference id already attempted"


class CreatePaymentLinkInput(BaseModel):
    togai_invoice_id: str
    togai_account_id: str
    customer_id: str | None = None  #: None → the account's mapped customer, if any
    currency: str
    total_amount: Decimal
    paid_amount: Decimal = Decimal(0)

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.strip().upper()


class CreatePaymentLinkOutput(BaseModel):
    payment_link_id: str
    short_url: str | None = None
    status: str
    source: Literal["created", "existing", "preview"] = "created"
    would_send: dict[str, object] | None = preview_only()  #: dry run only


def _out(link: models.PaymentLink, source: Literal["created", "existing"]) -> ActionResult:
    return ActionResult(
        CreatePaymentLinkOutput(
            payment_link_id=link.id, short_url=link.short_url, status=link.status, source=source
        )
    )


async def create_payment_link(ctx: ActionContext, data: CreatePaymentLinkInput) -> ActionResult:
    client: RazorpayClient = ctx.client
    reference_id = natural_key(data.togai_invoice_id)
    existing = await _find(client, reference_id)
    if existing is not None:
        return _out(existing, "existing")

    label = f"invoice {data.togai_invoice_id}"
    due = data.total_amount - data.paid_amount
    if due <= 0:
        raise errors.SkipEventError(
            f"{label} has nothing left to collect", app=APP, operation="create payment link"
        )
    amount = to_minor(due, data.currency, label=label, operation="create payment link")
    customer_id = data.customer_id or await ctx.ids.find(
        LinkKind.ACCOUNT_CUSTOMER, Side.TOGAI, data.togai_account_id
    )
    customer = None
    if customer_id:
        found = await client.fetch_customer(customer_id)
        customer = models.PaymentLinkCustomer(
            name=found.name, email=found.email, contact=found.contact
        )
    request = models.PaymentLinkCreate(
        amount=amount,
        currency=data.currency,
        reference_id=reference_id,
        description=f"Payment for {label}",
        customer=customer,
        notes=notes(togai_invoice_id=data.togai_invoice_id, togai_account_id=data.togai_account_id),
    )
    if ctx.dry_run:
        return ActionResult(
            CreatePaymentLinkOutput(
                payment_link_id=DRY_RUN_ID,
                status="preview",
                source="preview",
                would_send=request.model_dump(exclude_none=True),
            )
        )
    try:
        link = await client.create_payment_link(request)
    except errors.RejectedError as exc:
        # reference_id is enforced unique: a concurrent or lost earlier create won.
        if _DUPLICATE in exc.message.lower():
            existing = await _find(client, reference_id)
            if existing is not None:
                return _out(existing, "existing")
        raise
    return _out(link, "created")


async def _find(client: RazorpayClient, reference_id: str) -> models.PaymentLink | None:
    for link in await client.list_payment_links(reference_id=reference_id):
        if link.reference_id == reference_id:
            return link
    return None
