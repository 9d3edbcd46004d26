"""The Razorpay actions as declared to the engine, with their default input mappings."""

from __future__ import annotations

from billsync.connectors.razorpay import customer, invoice, payment_link
from billsync.connectors.spec import ActionSpec, Idempotency

_INVOICE_DEFAULTS = {
    "togai_invoice_id": "event.invoice.id",
    "togai_account_id": "event.invoice.ownerId",
    "currency": "event.account.invoiceCurrency",
    "total_amount": "event.invoice.totalAmount",
    "paid_amount": "event.invoice.paidAmount",
}

ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(
        key="create_customer",
        title="Create customer",
        description="Create (or find) the Razorpay customer for a Togai account.",
        input_model=customer.CreateCustomerInput,
        output_model=customer.CustomerOutput,
        run=customer.create_customer,
        idempotency=f"{Idempotency.MAPPING_THEN_NATURAL_KEY}: account mapping, then "
        'fail_existing "0" on (email, contact); notes carry the Togai ids',
        default_input={
            "togai_account_id": "event.account.id",
            "togai_customer_id": "event.account.customerId",
            "name": "event.account.name",
            "email": "event.account.primaryEmail",
            "contact": "event.account.address.phoneNumber",
        },
    ),
    ActionSpec(
        key="update_customer",
        title="Update customer",
        description="Update a Razorpay customer's name, email or contact (changed fields only).",
        input_model=customer.UpdateCustomerInput,
        output_model=customer.CustomerOutput,
        run=customer.update_customer,
        idempotency=f"{Idempotency.STATE_CHECK}: fetch, compare, PUT only what differs",
    ),
    ActionSpec(
        key="create_invoice",
        title="Create invoice",
        description="Issue a Razorpay invoice for what is still due on a Togai invoice.",
        input_model=invoice.CreateInvoiceInput,
        output_model=invoice.CreateInvoiceOutput,
        run=invoice.create_invoice,
        idempotency=f"{Idempotency.MAPPING_THEN_NATURAL_KEY}: invoice mapping, then "
        "GET /v1/invoices?receipt=<Togai invoice id or its 40-char digest> (adopt), then create",
        default_input={**_INVOICE_DEFAULTS, "invoice_number": "event.invoice.sequenceId"},
    ),
    ActionSpec(
        key="cancel_invoice",
        title="Cancel invoice",
        description="Cancel the Razorpay invoice of a voided Togai invoice (unpaid only).",
        input_model=invoice.CancelInvoiceInput,
        output_model=invoice.CancelInvoiceOutput,
        run=invoice.cancel_invoice,
        idempotency=f"{Idempotency.STATE_CHECK}: cancelled or expired already → success; "
        "paid → refused",
        default_input={"togai_invoice_id": "event.invoice.id"},
    ),
    ActionSpec(
        key="create_payment_link",
        title="Create payment link",
        description="Create a Razorpay payment link for what is still due on a Togai invoice.",
        input_model=payment_link.CreatePaymentLinkInput,
        output_model=payment_link.CreatePaymentLinkOutput,
        run=payment_link.create_payment_link,
        idempotency=f"{Idempotency.NATURAL_KEY}: GET /v1/payment_links?reference_id=<Togai "
        "invoice id> first; reference_id is unique at Razorpay",
        default_input=_INVOICE_DEFAULTS,
    ),
)
