"""Payments: captured by the control plane (a customer paying), then fetched and listed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billsync.sandbox.razorpay import collection, ids
from billsync.sandbox.razorpay.error import not_found
from billsync.sandbox.razorpay.state import Entity, State

METHODS = ("upi", "card", "netbanking", "wallet")


def _instrument(state: State, method: str) -> Entity:
    """What a test-mode payment by `method` shows; values are Razorpay's test instruments."""
    return {
        "card_id": state.new_id("card") if method == "card" else None,
        "bank": "HDFC" if method == "netbanking" else None,
        "wallet": "paytm" if method == "wallet" else None,
        "vpa": "success@razorpay" if method == "upi" else None,
    }


def capture(
    state: State,
    *,
    order: Entity,
    amount: int,
    method: str,
    customer: Entity | None,
    invoice_id: str | None = None,
    description: str | None = None,
) -> Entity:
    """A captured payment (`method` already checked); emits payment.authorized, then
    payment.captured."""
    # Razorpay's fee includes 18% GST on it; 2% is the standard domestic rate.
    fee = round(amount * 0.02 * 1.18)
    entity: Entity = {
        "id": state.new_id("pay"),
        "entity": "payment",
        "amount": amount,
        "currency": order["currency"],
        "status": "captured",
        "order_id": order["id"],
        "invoice_id": invoice_id,
        "international": False,
        "method": method,
        "amount_refunded": 0,
        "refund_status": None,
        "captured": True,
        "description": description,
        **_instrument(state, method),
        "email": customer.get("email") if customer else None,
        "contact": customer.get("contact") if customer else None,
        "customer_id": customer.get("id") if customer else None,
        "notes": [],
        "fee": fee,
        "tax": round(fee * 18 / 118),
        "error_code": None,
        "error_description": None,
        "error_source": None,
        "error_step": None,
        "error_reason": None,
        "acquirer_data": {},
        "created_at": state.now(),
    }
    state.payments[entity["id"]] = entity
    state.emit(
        "payment.authorized",
        {"payment": {**entity, "status": "authorized", "captured": False}},
    )
    state.emit("payment.captured", {"payment": entity})
    return entity


def get(state: State, raw_id: str, field: str | None = None) -> Entity:
    entity = state.payments.get(ids.canonical(raw_id, "pay", field))
    if entity is None:
        raise not_found(field)
    return entity


def list_page(state: State, params: Mapping[str, str]) -> dict[str, Any]:
    """GET /v1/payments: `from`, `to`, `count`, `skip`; newest first."""
    return collection.page(
        state.payments.values(),
        collection.query(params),
        time_range=state.config.payments_time_range,
        to_inclusive=state.config.payments_to_inclusive,
    )
