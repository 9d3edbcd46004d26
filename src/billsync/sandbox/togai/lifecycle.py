"""Invoice records and their status machine; every status change emits a webhook event."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from billsync.sandbox.togai.context import TogaiContext
from billsync.sandbox.togai.errors import ApiError
from billsync.sandbox.togai.responses import iso, now
from billsync.sandbox.togai.store import Record

# From Togai's invoice status diagram: Draft -> Due | Void; Due -> Partially paid | Paid |
# Uncollectible | Void | Merged; Uncollectible -> Paid | Void; Paid -> Refund initiated ->
# Refund completed. Paid and Void are terminal for payments.
TRANSITIONS: dict[str, frozenset[str]] = {
    "DRAFT": frozenset({"DUE", "VOID"}),
    "DUE": frozenset({"PARTIALLY_PAID", "PAID", "UN_COLLECTIBLE", "VOID", "MERGED"}),
    "PARTIALLY_PAID": frozenset({"PARTIALLY_PAID", "PAID", "UN_COLLECTIBLE"}),
    "UN_COLLECTIBLE": frozenset({"PARTIALLY_PAID", "PAID", "VOID"}),
    "PAID": frozenset({"REFUND_INITIATED"}),
    "REFUND_INITIATED": frozenset({"REFUND_COMPLETED"}),
}
PAYABLE = frozenset({"DUE", "PARTIALLY_PAID", "UN_COLLECTIBLE"})

_SUMMARY_ONLY_DROPS = ("autoAdvance", "metadata", "info")


def new_invoice(
    ctx: TogaiContext,
    account: Record,
    *,
    invoice_type: str,
    total: Decimal,
    start: datetime,
    end: datetime,
    auto_advance: bool = True,
    price_plan: tuple[str, str] | None = None,
    metadata: object = None,
) -> Record:
    """A DRAFT invoice for `account`; callers move it on with `transition`."""
    store = ctx.store
    customer = store.customers.get(account["customerId"]) or {}
    store.invoice_sequence += 1
    invoice_id = ctx.togai_id("inv")
    net_terms = account.get("netTermDays", ctx.config.default_net_term_days)
    details: Record = {
        "customer": {
            "name": customer.get("name", account["name"]),
            "primaryEmail": customer.get("primaryEmail", account.get("primaryEmail", "")),
            "billingAddress": customer.get("billingAddress", ""),
            "address": customer.get("address", {}),
        },
        "account": {
            "name": account["name"],
            "invoiceCurrency": account["invoiceCurrency"],
            "address": account.get("address", customer.get("address", {})),
            "primaryEmail": account.get("primaryEmail", customer.get("primaryEmail", "")),
        },
    }
    invoice: Record = {
        "id": invoice_id,
        "sequenceId": f"{end:%Y-%m}-{store.invoice_sequence:04d}",
        "customerId": account["customerId"],
        "ownerId": account["id"],
        "invoiceClass": "INVOICE",
        "invoiceType": invoice_type,
        "status": "DRAFT",
        "finalizingStatus": "FINALIZING",
        "autoAdvance": auto_advance,
        "totalAmount": total,
        "paidAmount": Decimal(0),
        "netTermDays": net_terms,
        "updatedAt": iso(now()),
        "pdfUrl": f"https://files.togai-sandbox.invalid/invoices/{invoice_id}.pdf",
        "invoiceDetails": details,
    }
    set_period(invoice, start, end)
    if price_plan is not None:
        invoice["pricePlanId"] = price_plan[0]
        details["pricePlanName"] = price_plan[1]
    if metadata is not None:
        invoice["metadata"] = metadata
    store.invoices.add(invoice_id, invoice)
    return invoice


def set_period(invoice: Record, start: datetime, end: datetime) -> None:
    """The billing period; the invoice is dated at its end and due netTermDays later."""
    invoice["startDate"] = iso(start)
    invoice["endDate"] = iso(end)
    invoice["endDateInclusive"] = iso(end - timedelta(milliseconds=1))
    invoice["invoiceDate"] = iso(end)
    invoice["dueDate"] = iso(end + timedelta(days=invoice["netTermDays"]))


def check_transition(invoice: Record, status: str) -> None:
    current = invoice["status"]
    if status not in TRANSITIONS.get(current, frozenset()):
        raise ApiError(400, f"Invoice {invoice['id']} cannot move from {current} to {status}")


def transition(ctx: TogaiContext, invoice: Record, status: str) -> None:
    check_transition(invoice, status)
    invoice["status"] = status
    stamp = iso(now())
    invoice["updatedAt"] = stamp
    if status == "DUE":
        invoice["finalizingStatus"] = "FINALIZED"
        invoice["generatedAt"] = stamp
    elif status == "PAID":
        invoice["paidAmount"] = invoice["totalAmount"]
    ctx.events.invoice_changed(invoice)


def summary(invoice: Record) -> Record:
    return {k: v for k, v in invoice.items() if k not in _SUMMARY_ONLY_DROPS}


def get_invoice_or_404(ctx: TogaiContext, invoice_id: str) -> Record:
    invoice = ctx.store.invoices.get(invoice_id)
    if invoice is None:
        raise ApiError(404, f"Invoice with id {invoice_id} not found")
    return invoice
