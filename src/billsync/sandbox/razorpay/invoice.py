"""Invoices: draft → issued → partially_paid/paid, cancelled, expired; per-state update rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billsync.sandbox.razorpay import collection, customer, fields, ids, line_item, order
from billsync.sandbox.razorpay.error import RazorpayError, invalid_state, not_found
from billsync.sandbox.razorpay.state import Entity, State

CREATE_FIELDS = (
    "type", "customer_id", "customer", "line_items", "currency", "description", "receipt",
    "expire_by", "sms_notify", "email_notify", "partial_payment", "draft", "date", "notes",
    "terms", "comment",
)  # fmt: skip
EDITABLE = {
    "draft": tuple(f for f in CREATE_FIELDS if f != "draft"),
    "issued": ("partial_payment", "receipt", "comment", "terms", "notes", "expire_by"),
}
# Every other status (partially_paid, paid, cancelled, expired) allows notes only.
SETTLED_EDITABLE = ("notes",)
CUSTOMER_FIELDS = ("name", "email", "contact", "gstin", "billing_address", "shipping_address")
ADDRESS_FIELDS = ("line1", "line2", "zipcode", "city", "state", "country")
LIST_FILTERS = ("type", "payment_id", "receipt", "customer_id", "subscription_id")
EXPIRE_MESSAGE = "expire_by should be at least 15 minutes after current time."


def min_amount_message(state: State, currency: str) -> str:
    return f"The amount must be at least {currency} {state.config.min_amount / 100:.2f}"


def _address(state: State, value: Any, kind: str) -> Entity | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise RazorpayError(f"The {kind} must be an object.", field=kind)
    fields.reject_unknown(value, ADDRESS_FIELDS)
    for key in ("line1", "city", "zipcode", "state", "country"):
        fields.required(value, key)
    return {"id": state.new_id("addr"), "type": kind, "primary": True} | {
        key: value.get(key) for key in ADDRESS_FIELDS
    }


def _customer(state: State, data: Mapping[str, Any], invoice: Entity) -> None:
    """Sets customer_id/customer_details from `customer_id` or an inline `customer` object."""
    if data.get("customer_id") is not None:
        found = customer.get(state, str(data["customer_id"]), "customer_id")
        billing = shipping = None
    elif data.get("customer") is not None:
        spec = data["customer"]
        if not isinstance(spec, Mapping):
            raise RazorpayError("The customer must be an object.", field="customer")
        fields.reject_unknown(spec, CUSTOMER_FIELDS)
        fields.required(spec, "name")
        billing = _address(state, spec.get("billing_address"), "billing_address")
        shipping = _address(state, spec.get("shipping_address"), "shipping_address")
        # UNCONFIRMED: an inline customer matching an existing (email, contact) reuses it.
        probe = {k: spec[k] for k in ("name", "email", "contact", "gstin") if k in spec}
        found = customer.create(state, probe | {"fail_existing": "0"})
    else:
        return
    invoice["customer_id"] = found["id"]
    invoice["customer_details"] = {
        "id": found["id"],
        "name": found["name"],
        "email": found["email"],
        "contact": found["contact"],
        "gstin": found["gstin"],
        "billing_address": billing,
        "shipping_address": shipping,
        "customer_name": found["name"],
        "customer_email": found["email"],
        "customer_contact": found["contact"],
    }


def _totals(invoice: Entity) -> None:
    amount = sum(item["gross_amount"] for item in invoice["line_items"])
    invoice.update(gross_amount=amount, taxable_amount=amount, amount=amount)
    if invoice["status"] != "draft":
        invoice["amount_due"] = amount - (invoice["amount_paid"] or 0)


def _apply(state: State, invoice: Entity, data: Mapping[str, Any]) -> None:
    """Writes the fields of `data` (already checked against the state's allowed set)."""
    now = state.now()
    if "currency" in data:
        invoice["currency"] = fields.currency(data, invoice["currency"], state.config.international)
        invoice["currency_symbol"] = "₹" if invoice["currency"] == "INR" else invoice["currency"]
    if "type" in data and data["type"] != "invoice":
        raise RazorpayError("The selected type is invalid.", field="type")
    if "line_items" in data:
        invoice["line_items"] = line_item.merge(
            state, invoice["line_items"], data["line_items"], invoice["currency"]
        )
    if any(item["currency"] != invoice["currency"] for item in invoice["line_items"]):
        raise RazorpayError(
            "Currency of all items should be the same as of the invoice.", field="currency"
        )
    if "receipt" in data:
        receipt = fields.text(data, "receipt", max_len=40, min_len=1)
        if receipt is not None and state.config.unique_invoice_receipt:
            if any(i["id"] != invoice["id"] for i in with_receipt(state, receipt)):
                raise RazorpayError("The receipt has already been taken.", field="receipt")
        invoice["receipt"] = invoice["invoice_number"] = receipt
    for key in ("description", "terms", "comment"):
        if key in data:
            invoice[key] = fields.text(data, key, max_len=2048)
    if "expire_by" in data:
        invoice["expire_by"] = fields.future_timestamp(data, "expire_by", now, EXPIRE_MESSAGE)
    if "partial_payment" in data:
        invoice["partial_payment"] = fields.flag(data, "partial_payment", False)
    for key in ("sms_notify", "email_notify"):
        if key in data:
            state.invoice_notify.setdefault(invoice["id"], {})[key] = fields.flag(data, key, True)
    if "date" in data:
        invoice["date"] = fields.integer(data, "date", now)
    if "notes" in data:
        invoice["notes"] = fields.notes(data)
    # Last, because an inline customer is created as a side effect.
    _customer(state, data, invoice)
    _totals(invoice)


def _issue(state: State, invoice: Entity) -> None:
    if invoice["customer_id"] is None:
        raise RazorpayError("customer is required.", field="customer")
    if not invoice["line_items"]:
        raise RazorpayError("line_items is required.", field="line_items")
    if invoice["amount"] < state.config.min_amount:
        raise RazorpayError(min_amount_message(state, invoice["currency"]), field="amount")
    notify = state.invoice_notify.get(invoice["id"], {})
    made = order.insert(state, invoice["amount"], invoice["currency"], invoice["receipt"])
    state.invoice_by_order[made["id"]] = invoice["id"]
    invoice.update(
        status="issued",
        order_id=made["id"],
        short_url=state.short_url(),
        issued_at=state.now(),
        amount_paid=0,
        amount_due=invoice["amount"],
        sms_status="pending" if notify.get("sms_notify", True) else None,
        email_status="pending" if notify.get("email_notify", True) else None,
    )
    state.schedule_expiry("invoice", invoice)


def create(state: State, data: Mapping[str, Any]) -> Entity:
    fields.reject_unknown(data, CREATE_FIELDS)
    if fields.required(data, "type") != "invoice":
        raise RazorpayError("The selected type is invalid.", field="type")
    draft = data.get("draft", "0")
    if draft not in ("0", "1", 0, 1):
        raise RazorpayError("The selected draft is invalid.", field="draft")
    if draft in ("0", 0) and data.get("customer_id") is None and data.get("customer") is None:
        raise RazorpayError("customer is required.", field="customer")
    now = state.now()
    currency = fields.currency(data, "INR", state.config.international)
    invoice: Entity = {
        "id": state.new_id("inv"), "entity": "invoice", "type": "invoice", "receipt": None,
        "invoice_number": None, "customer_id": None, "customer_details": None,
        "order_id": None, "line_items": [], "payment_id": None, "status": "draft",
        "expire_by": None, "issued_at": None, "paid_at": None, "cancelled_at": None,
        "expired_at": None, "sms_status": None, "email_status": None, "date": now,
        "terms": None, "partial_payment": False, "gross_amount": 0, "tax_amount": 0,
        "taxable_amount": 0, "amount": 0, "amount_paid": None, "amount_due": None,
        "first_payment_min_amount": None, "currency": currency,
        "currency_symbol": "₹" if currency == "INR" else currency, "description": None,
        "notes": [], "comment": None, "short_url": None, "view_less": True,
        "billing_start": None, "billing_end": None, "group_taxes_discounts": False,
        "user_id": None, "created_at": now, "idempotency_key": None,
    }  # fmt: skip
    _apply(state, invoice, {k: v for k, v in data.items() if k not in ("type", "draft")})
    if draft in ("0", 0):
        _issue(state, invoice)
    state.invoices[invoice["id"]] = invoice
    state.invoice_rank[invoice["id"]] = len(state.invoice_rank)
    _index_receipt(state, invoice["id"], None, invoice["receipt"])
    return invoice


def _index_receipt(state: State, invoice_id: str, old: str | None, new: str | None) -> None:
    if old == new:
        return
    if old is not None:
        ids = state.invoices_by_receipt.get(old, {})
        ids.pop(invoice_id, None)
        if not ids:
            state.invoices_by_receipt.pop(old, None)
    if new is not None:
        state.invoices_by_receipt.setdefault(new, {})[invoice_id] = None


def with_receipt(state: State, receipt: str) -> list[Entity]:
    """The invoices whose receipt is `receipt`, oldest first (as state.invoices holds them)."""
    found = [
        state.invoices[i] for i in state.invoices_by_receipt.get(receipt, ()) if i in state.invoices
    ]
    found.sort(key=lambda i: state.invoice_rank[i["id"]])
    return [i for i in found if i["receipt"] == receipt]


def get(state: State, raw_id: str) -> Entity:
    invoice = state.invoices.get(ids.canonical(raw_id, "inv"))
    if invoice is None:
        raise not_found()
    return invoice


def list_page(state: State, params: Mapping[str, str]) -> dict[str, Any]:
    data = collection.query(params, LIST_FILTERS)
    wanted = {k: data[k] for k in ("type", "receipt", "customer_id") if k in data}
    payment_id = data.get("payment_id")
    if "subscription_id" in data:
        # No subscriptions exist in the sandbox, so nothing belongs to one.
        return {"entity": "collection", "count": 0, "items": []}

    def match(invoice: Entity) -> bool:
        if any(invoice[k] != v for k, v in wanted.items()):
            return False
        if payment_id is None:
            return True
        return payment_id in state.payments_by_order.get(invoice["order_id"] or "", ())

    # A receipt narrows the scan to its own invoices (the match still checks every filter).
    items = with_receipt(state, data["receipt"]) if "receipt" in data else state.invoices.values()
    return collection.page(items, data, match)


def update(state: State, raw_id: str, data: Mapping[str, Any]) -> Entity:
    invoice = get(state, raw_id)
    fields.reject_unknown(data, EDITABLE.get(invoice["status"], SETTLED_EDITABLE))
    # Work on a copy so that a refusal halfway leaves the invoice untouched.
    draft = dict(invoice)
    _apply(state, draft, data)
    old_receipt = invoice["receipt"]
    invoice.update(draft)
    _index_receipt(state, invoice["id"], old_receipt, invoice["receipt"])
    if "expire_by" in data and invoice["status"] in ("issued", "partially_paid"):
        state.schedule_expiry("invoice", invoice)
    return invoice


def issue(state: State, raw_id: str) -> Entity:
    invoice = get(state, raw_id)
    if invoice["status"] != "draft":
        raise invalid_state("Invoice", invoice["status"])
    _issue(state, invoice)
    return invoice


def cancel(state: State, raw_id: str) -> Entity:
    invoice = get(state, raw_id)
    if invoice["status"] != "issued":
        raise invalid_state("Invoice", invoice["status"])
    invoice.update(status="cancelled", cancelled_at=state.now())
    return invoice


def delete(state: State, raw_id: str) -> list[Any]:
    invoice = get(state, raw_id)
    if invoice["status"] != "draft":
        raise invalid_state("Invoice", invoice["status"])
    del state.invoices[invoice["id"]]
    _index_receipt(state, invoice["id"], invoice["receipt"], None)
    state.invoice_rank.pop(invoice["id"], None)
    return []


def notify(state: State, raw_id: str, medium: str) -> dict[str, bool]:
    invoice = get(state, raw_id)
    if medium not in ("sms", "email"):
        raise RazorpayError(f"{medium} is not a valid communication medium.", field="medium")
    if invoice["status"] not in ("issued", "partially_paid"):
        raise invalid_state("Invoice", invoice["status"])
    invoice[f"{medium}_status"] = "sent"
    return {"success": True}


def expire(state: State, raw_id: str) -> Entity:
    """What Razorpay does some minutes after expire_by; emits invoice.expired."""
    invoice = get(state, raw_id)
    # UNCONFIRMED: whether a partially paid invoice can expire; allowed here.
    if invoice["status"] not in ("issued", "partially_paid"):
        raise invalid_state("Invoice", invoice["status"])
    invoice.update(status="expired", expired_at=state.now())
    state.emit("invoice.expired", {"invoice": invoice})
    return invoice
