"""A customer paying an invoice or a payment link (driven by the control plane)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billsync.sandbox.razorpay import fields, invoice, order, payment, payment_link
from billsync.sandbox.razorpay.error import RazorpayError, invalid_state
from billsync.sandbox.razorpay.state import Entity, State

FIELDS = ("amount", "method")


def _method(data: Mapping[str, Any]) -> str:
    method = str(data.get("method", "upi"))
    if method not in payment.METHODS:
        raise RazorpayError(
            f"The selected method is invalid ({', '.join(payment.METHODS)}).", field="method"
        )
    return method


def _amount(data: Mapping[str, Any], due: int, partial: bool, minimum: int) -> int:
    amount = fields.integer(data, "amount", due)
    assert amount is not None
    if amount <= 0 or amount > due:
        raise RazorpayError(f"The amount must be between 1 and {due}.", field="amount")
    if amount < due and not partial:
        raise RazorpayError("Partial payment is not enabled.", field="amount")
    if amount < min(minimum, due):
        raise RazorpayError(f"The amount must be at least {minimum}.", field="amount")
    return amount


def pay_invoice(state: State, raw_id: str, data: Mapping[str, Any]) -> tuple[Entity, Entity]:
    """Emits payment.authorized, payment.captured, order.paid (when fully paid),
    then invoice.partially_paid or invoice.paid."""
    fields.reject_unknown(data, FIELDS)
    inv = invoice.get(state, raw_id)
    if inv["status"] not in ("issued", "partially_paid"):
        raise invalid_state("Invoice", inv["status"])
    amount = _amount(data, inv["amount_due"], inv["partial_payment"], 1)
    the_order = state.orders[inv["order_id"]]
    paid = payment.capture(
        state,
        order=the_order,
        amount=amount,
        method=_method(data),
        customer=state.customers.get(inv["customer_id"] or ""),
        invoice_id=inv["id"],
        description="#" + inv["id"].removeprefix("inv_"),
    )
    order.record_payment(state, the_order, paid)
    inv["amount_paid"] += amount
    inv["amount_due"] = inv["amount"] - inv["amount_paid"]
    # The invoice keeps its first payment id; later ones are listed on its order.
    inv["payment_id"] = inv["payment_id"] or paid["id"]
    if inv["amount_due"] <= 0:
        inv.update(status="paid", paid_at=state.now())
        state.emit("order.paid", {"payment": paid, "order": the_order})
        event = "invoice.paid"
    else:
        inv["status"] = "partially_paid"
        event = "invoice.partially_paid"
    state.emit(event, {"payment": paid, "order": the_order, "invoice": inv})
    return paid, inv


def pay_link(state: State, raw_id: str, data: Mapping[str, Any]) -> tuple[Entity, Entity]:
    """Emits payment.authorized, payment.captured, order.paid (when fully paid),
    then payment_link.partially_paid or payment_link.paid."""
    fields.reject_unknown(data, FIELDS)
    link = payment_link.get(state, raw_id)
    if link["status"] not in ("created", "partially_paid"):
        raise RazorpayError(f"Payment link is not payable in {link['status']} status.")
    due = link["amount"] - link["amount_paid"]
    first_min = link["first_min_partial_amount"] if link["amount_paid"] == 0 else 1
    amount = _amount(data, due, link["accept_partial"], first_min or 1)
    method = _method(data)
    if not link["order_id"]:
        made = order.insert(state, link["amount"], link["currency"], link["reference_id"] or None)
        state.link_by_order[made["id"]] = link["id"]
        link["order_id"] = made["id"]
    the_order = state.orders[link["order_id"]]
    paid = payment.capture(
        state,
        order=the_order,
        amount=amount,
        method=method,
        customer=link["customer"],
        description=link["description"] or None,
    )
    order.record_payment(state, the_order, paid)
    now = state.now()
    link["payments"] = (link["payments"] or []) + [
        {
            "amount": amount,
            "created_at": now,
            "method": method,
            "payment_id": paid["id"],
            "plink_id": link["id"],
            "status": "captured",
            "updated_at": now,
        }
    ]
    link["amount_paid"] += amount
    link["updated_at"] = now
    if link["amount_paid"] >= link["amount"]:
        link["status"] = "paid"
        state.emit("order.paid", {"payment": paid, "order": the_order})
    else:
        link["status"] = "partially_paid"
    state.emit(
        f"payment_link.{link['status']}",
        {"payment_link": link, "order": the_order, "payment": paid},
    )
    return paid, link
