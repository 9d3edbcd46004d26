"""togai.record_payment: record a Razorpay payment against a Togai invoice, exactly once.

Before writing, three checks run in order: the id mapping (Razorpay payment → Togai
payment), a search of Togai's payments for one carrying the Razorpay payment id as its
transaction number, and the invoice itself (already PAID or fully paid → nothing to do).
The write is `POST /payments` by default; the connection option `payment_mode =
legacy_patch` marks the invoice PAID with `PATCH /invoices/{id}` instead, for
organisations where recording payments is not enabled (whether the live API still accepts
the PATCH is UNCONFIRMED, hence an option and not a fallback).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from billsync import errors, money
from billsync.connectors.spec import ActionContext, ActionResult
from billsync.connectors.togai.client import APP, TogaiClient
from billsync.connectors.togai.models import Invoice, Payment
from billsync.domain import IdLink, LinkKind, Side

PaymentMode = Literal["payments", "legacy_patch"]
PAYMENT_MODE_OPTION = "payment_mode"
PAYMENT_MODES: tuple[PaymentMode, ...] = ("payments", "legacy_patch")
SOURCE_NAME = "Razorpay"

#: Statuses a payment may still be recorded against (Uncollectible → Paid is allowed).
_PAYABLE = frozenset({"DUE", "PARTIALLY_PAID", "UN_COLLECTIBLE"})
_OPERATION = "record_payment"


class RecordPaymentIn(BaseModel):
    razorpay_payment_id: str
    amount: int  #: minor units (paise), as Razorpay reports it
    currency: str
    togai_invoice_id: str | None = None
    razorpay_invoice_id: str | None = None
    account_id: str | None = None  #: None → the invoice's ownerId


class RecordPaymentOut(BaseModel):
    payment_id: str | None
    invoice_id: str
    invoice_status: str
    paid_amount: Decimal
    #: "preview": a dry run that would record the payment (nothing was sent)
    source: Literal["recorded", "existing", "covered", "preview"]
    mode: PaymentMode


def payment_mode(options: Mapping[str, str]) -> PaymentMode:
    value = (options.get(PAYMENT_MODE_OPTION) or "payments").strip()
    for mode in PAYMENT_MODES:
        if value == mode:
            return mode
    raise errors.RejectedError(
        f"unknown payment_mode {value!r}; expected one of {', '.join(PAYMENT_MODES)}",
        app=APP,
        operation=_OPERATION,
        field=PAYMENT_MODE_OPTION,
    )


async def record_payment(ctx: ActionContext, data: RecordPaymentIn) -> ActionResult:
    client: TogaiClient = ctx.client
    mode = payment_mode(ctx.options)
    invoice_id = await _invoice_id(ctx, data)

    mapped = await ctx.ids.find(LinkKind.PAYMENT_PAYMENT, Side.RAZORPAY, data.razorpay_payment_id)
    invoice = await client.get_invoice(invoice_id)
    if mapped is not None:
        return ActionResult(output=_out(invoice, mapped, "existing", mode))

    account_id = data.account_id or invoice.owner_id
    if not account_id:
        raise errors.RejectedError(
            f"invoice {invoice_id} has no owner account", app=APP, operation=_OPERATION
        )
    amount = _major(data)
    _check_currency(invoice, data.currency)

    if mode == "payments":
        found = await find_payment(client, account_id, data.razorpay_payment_id)
        if found is not None:
            return ActionResult(
                output=_out(invoice, found.id, "existing", mode), links=(_link(found, data),)
            )

    if invoice.status == "PAID" or (
        invoice.total_amount > 0 and invoice.paid_amount >= invoice.total_amount
    ):
        return ActionResult(output=_out(invoice, None, "covered", mode))
    if invoice.status not in _PAYABLE:
        raise errors.RejectedError(
            f"invoice {invoice_id} is {invoice.status}: a payment cannot be recorded on it",
            app=APP,
            operation=_OPERATION,
            reason=invoice.status,
        )
    if ctx.dry_run:
        return ActionResult(output=_out(invoice, None, "preview", mode))

    if mode == "legacy_patch":
        return ActionResult(output=await _mark_paid(client, invoice, amount, mode))

    payment = await client.create_payment(
        account_id=account_id,
        currency=data.currency.upper(),
        total_amount=amount,
        transaction_number=data.razorpay_payment_id,
        invoice_id=invoice_id,
        source_name=SOURCE_NAME,
        source_type="GATEWAY",
    )
    # The payment changes the invoice's paidAmount/status; report what Togai now says.
    invoice = await client.get_invoice(invoice_id)
    return ActionResult(
        output=_out(invoice, payment.id, "recorded", mode), links=(_link(payment, data),)
    )


async def find_payment(
    client: TogaiClient, account_id: str, transaction_number: str
) -> Payment | None:
    """The account's payment carrying `transaction_number` (the Razorpay payment id)."""
    token: str | None = None
    while True:
        page = await client.list_payments(account_id=account_id, next_token=token)
        for payment in page.data:
            if transaction_number in payment.transaction_numbers():
                return payment
        if not page.next_token or not page.data:
            return None
        token = page.next_token


async def _invoice_id(ctx: ActionContext, data: RecordPaymentIn) -> str:
    if data.togai_invoice_id:
        return data.togai_invoice_id
    if not data.razorpay_invoice_id:
        # A payment not tied to an invoice (e.g. a plain payment link) is not this flow's.
        raise errors.SkipEventError(
            f"payment {data.razorpay_payment_id} belongs to no invoice",
            app=APP,
            operation=_OPERATION,
        )
    found = await ctx.ids.find(LinkKind.INVOICE_INVOICE, Side.RAZORPAY, data.razorpay_invoice_id)
    if found is None:
        raise errors.MappingError(
            f"Razorpay invoice {data.razorpay_invoice_id} is not linked to a Togai invoice",
            app=APP,
            operation=_OPERATION,
        )
    return found


def _major(data: RecordPaymentIn) -> Decimal:
    try:
        return money.from_minor(data.amount, data.currency)
    except ValueError as exc:
        raise errors.RejectedError(
            f"payment {data.razorpay_payment_id}: {exc}",
            app=APP,
            operation=_OPERATION,
            field="currency",
        ) from exc


def _check_currency(invoice: Invoice, currency: str) -> None:
    expected = invoice.currency
    if expected and expected.upper() != currency.upper():
        raise errors.RejectedError(
            f"payment in {currency.upper()} cannot pay invoice {invoice.id} in {expected.upper()}",
            app=APP,
            operation=_OPERATION,
            field="currency",
        )


async def _mark_paid(
    client: TogaiClient, invoice: Invoice, amount: Decimal, mode: PaymentMode
) -> RecordPaymentOut:
    due = invoice.total_amount - invoice.paid_amount
    if amount < due:
        # The PATCH can only say PAID: a partial payment would be recorded as a full one.
        raise errors.RejectedError(
            f"payment of {amount} is less than the {due} due on invoice {invoice.id}; "
            "payment_mode legacy_patch cannot record partial payments",
            app=APP,
            operation=_OPERATION,
            reason="partial_payment",
        )
    updated = await client.update_invoice(invoice.id, {"status": "PAID"})
    return _out(updated, None, "recorded", mode)


def _out(
    invoice: Invoice,
    payment_id: str | None,
    source: Literal["recorded", "existing", "covered", "preview"],
    mode: PaymentMode,
) -> RecordPaymentOut:
    return RecordPaymentOut(
        payment_id=payment_id,
        invoice_id=invoice.id,
        invoice_status=invoice.status,
        paid_amount=invoice.paid_amount,
        source=source,
        mode=mode,
    )


def _link(payment: Payment, data: RecordPaymentIn) -> IdLink:
    return IdLink(
        LinkKind.PAYMENT_PAYMENT, togai_id=payment.id, razorpay_id=data.razorpay_payment_id
    )
