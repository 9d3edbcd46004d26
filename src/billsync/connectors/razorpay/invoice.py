"""Actions on Razorpay invoices: create (mapping → receipt lookup after an earlier attempt →
create) and cancel."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from billsync import errors
from billsync.connectors.razorpay import models
from billsync.connectors.razorpay.client import MAX_PAGE, RazorpayClient
from billsync.connectors.razorpay.errors import APP
from billsync.connectors.razorpay.reference import DRY_RUN_ID, natural_key, notes, to_minor
from billsync.connectors.spec import ActionContext, ActionResult, preview_only
from billsync.domain import IdLink, LinkKind, Side

#: Razorpay accepts at most 50 line items per invoice.
MAX_LINES = 50
#: Invoice states from which there is nothing left to collect or cancel.
PAID = {"paid", "partially_paid"}
CLOSED = {"cancelled", "expired"}


class LineItemInput(BaseModel):
    name: str
    amount: Decimal  #: unit amount in major units; the line totals amount × quantity
    quantity: int = Field(default=1, ge=1)


class CreateInvoiceInput(BaseModel):
    togai_invoice_id: str
    togai_account_id: str
    customer_id: str | None = None  #: None → the account's mapped customer
    currency: str
    total_amount: Decimal
    paid_amount: Decimal = Decimal(0)
    description: str | None = None
    invoice_number: str | None = None
    line_items: list[LineItemInput] | None = None
    #: Let the customer pay the Razorpay invoice in parts (each part is recorded in Togai
    #: by the partially-paid flow). Off by default, as in Razorpay.
    partial_payment: bool = False

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.strip().upper()


class CreateInvoiceOutput(BaseModel):
    invoice_id: str
    short_url: str | None = None
    status: str
    amount: int  #: minor units
    currency: str
    receipt: str | None = None
    source: Literal["mapping", "created", "adopted", "preview"]
    would_send: dict[str, Any] | None = preview_only()  #: dry run only


class CancelInvoiceInput(BaseModel):
    togai_invoice_id: str
    invoice_id: str | None = None  #: None → the Togai invoice's mapped Razorpay invoice


class CancelInvoiceOutput(BaseModel):
    invoice_id: str
    status: str
    source: Literal["cancelled", "already_closed", "preview"] = "cancelled"


def _out(invoice: models.Invoice, source: Any, currency: str) -> CreateInvoiceOutput:
    return CreateInvoiceOutput(
        invoice_id=invoice.id,
        short_url=invoice.short_url,
        status=invoice.status,
        amount=invoice.amount or 0,
        currency=invoice.currency or currency,
        receipt=invoice.receipt,
        source=source,
    )


async def create_invoice(ctx: ActionContext, data: CreateInvoiceInput) -> ActionResult:
    client: RazorpayClient = ctx.client
    mapped = await ctx.ids.find(LinkKind.INVOICE_INVOICE, Side.TOGAI, data.togai_invoice_id)
    if mapped:
        try:
            invoice = await client.fetch_invoice(mapped)
        except errors.NotFoundError as exc:
            raise errors.MappingError(
                f"Togai invoice {data.togai_invoice_id} is mapped to Razorpay invoice {mapped}, "
                "which no longer exists",
                app=APP,
                operation="create invoice",
            ) from exc
        return ActionResult(_out(invoice, "mapping", data.currency))

    receipt = natural_key(data.togai_invoice_id)
    # design.md's idempotency table: the mapping is the first look; the provider's receipt
    # is searched only when an earlier attempt of this step exists (it may have created the
    # invoice and lost the answer, or crashed before its result was stored). A first
    # attempt cannot have a twin: the mapping is written with every step result.
    if ctx.earlier_attempt or ctx.after_ambiguous_failure or ctx.dry_run:
        page = await client.list_invoices(receipt=receipt, count=MAX_PAGE)
        for found in page.items:
            # The receipt is our key; the notes guard against a digest or manual collision.
            theirs = found.notes.get("togai_invoice_id", data.togai_invoice_id)
            if found.receipt == receipt and theirs == data.togai_invoice_id:
                link = IdLink(LinkKind.INVOICE_INVOICE, data.togai_invoice_id, found.id)
                return ActionResult(_out(found, "adopted", data.currency), links=(link,))

    customer_id = data.customer_id or await ctx.ids.find(
        LinkKind.ACCOUNT_CUSTOMER, Side.TOGAI, data.togai_account_id
    )
    if not customer_id:
        raise errors.DependencyNotReadyError(
            f"Togai account {data.togai_account_id} has no Razorpay customer yet",
            app=APP,
            operation="create invoice",
        )
    request = build_invoice_request(data, customer_id, receipt)
    if ctx.dry_run:
        total = sum(line.amount * line.quantity for line in request.line_items)
        return ActionResult(
            CreateInvoiceOutput(
                invoice_id=DRY_RUN_ID,
                status="preview",
                amount=total,
                currency=request.currency,
                receipt=receipt,
                source="preview",
                would_send=request.model_dump(exclude_none=True),
            )
        )
    invoice = await client.create_invoice(request)
    link = IdLink(LinkKind.INVOICE_INVOICE, data.togai_invoice_id, invoice.id)
    return ActionResult(_out(invoice, "created", data.currency), links=(link,))


def build_invoice_request(
    data: CreateInvoiceInput, customer_id: str, receipt: str
) -> models.InvoiceCreate:
    """The invoice body: Togai's line items when they add up to what is due, else one line."""
    label = f"invoice {data.togai_invoice_id}"
    due = data.total_amount - data.paid_amount
    if due <= 0:
        raise errors.SkipEventError(
            f"{label} has nothing left to collect ({data.total_amount} total, "
            f"{data.paid_amount} paid)",
            app=APP,
            operation="create invoice",
        )
    amount = to_minor(due, data.currency, label=label, operation="create invoice")
    title = f"Invoice {data.invoice_number}" if data.invoice_number else label
    lines = _lines(data, amount) or [
        models.LineItemCreate(name=title[:255], amount=amount, currency=data.currency)
    ]
    return models.InvoiceCreate(
        customer_id=customer_id,
        line_items=lines,
        currency=data.currency,
        receipt=receipt,
        description=(data.description or title)[:2048],
        notes=notes(
            togai_invoice_id=data.togai_invoice_id,
            togai_account_id=data.togai_account_id,
            togai_invoice_number=data.invoice_number,
        ),
        partial_payment=True if data.partial_payment else None,
    )


def _lines(data: CreateInvoiceInput, amount: int) -> list[models.LineItemCreate] | None:
    """Line items only when they are exact, positive, ≤50, and sum to the amount due.

    A partly paid invoice, discounts or tax lines would not add up line by line; the
    amount due is what matters, so those invoices get one line for the whole amount.
    """
    items = data.line_items or []
    if not items or len(items) > MAX_LINES:
        return None
    lines: list[models.LineItemCreate] = []
    for item in items:
        try:
            unit = to_minor(item.amount, data.currency, label=item.name, operation="line item")
        except errors.RejectedError:
            return None
        lines.append(
            models.LineItemCreate(
                name=item.name[:255] or "Item",
                amount=unit,
                currency=data.currency,
                quantity=item.quantity,
            )
        )
    if sum(line.amount * line.quantity for line in lines) != amount:
        return None
    return lines


async def cancel_invoice(ctx: ActionContext, data: CancelInvoiceInput) -> ActionResult:
    client: RazorpayClient = ctx.client
    invoice_id = data.invoice_id or await ctx.ids.find(
        LinkKind.INVOICE_INVOICE, Side.TOGAI, data.togai_invoice_id
    )
    if not invoice_id:
        raise errors.SkipEventError(
            f"Togai invoice {data.togai_invoice_id} was never sent to Razorpay: nothing to cancel",
            app=APP,
            operation="cancel invoice",
        )
    invoice = await client.fetch_invoice(invoice_id)
    _check_cancellable(invoice)
    if invoice.status in CLOSED:
        return ActionResult(
            CancelInvoiceOutput(
                invoice_id=invoice.id, status=invoice.status, source="already_closed"
            )
        )
    if ctx.dry_run:
        return ActionResult(
            CancelInvoiceOutput(invoice_id=invoice.id, status=invoice.status, source="preview")
        )
    try:
        cancelled = await client.cancel_invoice(invoice.id)
    except errors.RejectedError:
        # "Operation not allowed for Invoice in <status> status.": re-read and decide,
        # e.g. an earlier attempt whose answer was lost already cancelled it.
        invoice = await client.fetch_invoice(invoice.id)
        _check_cancellable(invoice)
        if invoice.status in CLOSED:
            return ActionResult(
                CancelInvoiceOutput(
                    invoice_id=invoice.id, status=invoice.status, source="already_closed"
                )
            )
        raise
    return ActionResult(CancelInvoiceOutput(invoice_id=cancelled.id, status=cancelled.status))


def _check_cancellable(invoice: models.Invoice) -> None:
    if invoice.status in PAID:
        raise errors.RejectedError(
            f"Razorpay invoice {invoice.id} is {invoice.status.replace('_', ' ')}: a paid "
            "invoice cannot be cancelled (refund it in Razorpay instead)",
            app=APP,
            operation="cancel invoice",
            reason="invoice_paid",
        )
    if invoice.status == "draft":
        raise errors.RejectedError(
            f"Razorpay invoice {invoice.id} is a draft: billsync only cancels issued invoices",
            app=APP,
            operation="cancel invoice",
            reason="invoice_draft",
        )
