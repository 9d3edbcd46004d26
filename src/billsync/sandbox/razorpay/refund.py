"""Refunds on captured payments, with the X-Refund-Idempotency header."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from billsync.sandbox.razorpay import collection, fields, ids, payment
from billsync.sandbox.razorpay.error import RazorpayError, not_found
from billsync.sandbox.razorpay.state import Entity, State

FIELDS = ("amount", "speed", "notes", "receipt")
# razorpay-api.md §8: an X-Refund-Idempotency key is at least 10 of these characters.
KEY = re.compile(r"[A-Za-z0-9_-]{10,}")
# UNCONFIRMED wording: the format is documented, Razorpay's refusal text is not.
KEY_INVALID = "X-Refund-Idempotency must be at least 10 characters of letters, digits, - and _."
KEY_REUSED = "Different request with the same idempotency key has already been processed."


def create(
    state: State, payment_id: str, data: Mapping[str, Any], idempotency_key: str | None = None
) -> Entity:
    fields.reject_unknown(data, FIELDS)
    if idempotency_key is not None and KEY.fullmatch(idempotency_key) is None:
        raise RazorpayError(KEY_INVALID, field="X-Refund-Idempotency", reason="NA")
    paid = payment.get(state, payment_id, "payment_id")
    if idempotency_key is not None:
        seen = state.refund_by_key.get(idempotency_key)
        if seen is not None:
            # The request is the payment and the body: the same body on another payment is
            # a different request (razorpay-api.md §8), not a replay of the first.
            request, refund_id = seen
            if request != (paid["id"], dict(data)) or refund_id not in state.refunds:
                raise RazorpayError(KEY_REUSED, reason="NA")
            return state.refunds[refund_id]
    remaining = paid["amount"] - paid["amount_refunded"]
    if remaining <= 0:
        raise RazorpayError("The payment has been fully refunded already.", reason="NA")
    amount = fields.integer(data, "amount", remaining)
    assert amount is not None
    if amount > remaining:
        raise RazorpayError(
            "The refund amount provided is greater than amount captured.", field="amount"
        )
    if amount < state.config.min_amount:
        raise RazorpayError("The amount must be at least INR 1.00.", field="amount")
    speed = data.get("speed", "normal")
    if speed not in ("normal", "optimum"):
        raise RazorpayError("The selected speed is invalid.", field="speed")
    entity: Entity = {
        "id": state.new_id("rfnd"),
        "entity": "refund",
        "amount": amount,
        "currency": paid["currency"],
        "payment_id": paid["id"],
        "notes": fields.notes(data),
        "receipt": fields.text(data, "receipt", max_len=40),
        "acquirer_data": {"arn": None},
        "created_at": state.now(),
        "batch_id": None,
        "status": "processed",
        "speed_processed": "normal",
        "speed_requested": speed,
    }
    state.refunds[entity["id"]] = entity
    state.refunds_by_payment.setdefault(paid["id"], []).append(entity["id"])
    if idempotency_key is not None:
        state.refund_by_key[idempotency_key] = ((paid["id"], dict(data)), entity["id"])
    paid["amount_refunded"] += amount
    full = paid["amount_refunded"] >= paid["amount"]
    paid["refund_status"] = "full" if full else "partial"
    if full:
        paid["status"] = "refunded"
    state.emit("refund.created", {"refund": {**entity, "status": "pending"}, "payment": paid})
    state.emit("refund.processed", {"refund": entity, "payment": paid})
    return entity


def get(state: State, raw_id: str) -> Entity:
    entity = state.refunds.get(ids.canonical(raw_id, "rfnd"))
    if entity is None:
        raise not_found()
    return entity


def get_for_payment(state: State, payment_id: str, raw_id: str) -> Entity:
    paid = payment.get(state, payment_id)
    entity = get(state, raw_id)
    if entity["payment_id"] != paid["id"]:
        raise not_found()
    return entity


def list_page(state: State, params: Mapping[str, str]) -> dict[str, Any]:
    return collection.page(state.refunds.values(), collection.query(params))


def payment_page(state: State, payment_id: str, params: Mapping[str, str]) -> dict[str, Any]:
    paid = payment.get(state, payment_id)
    refunds = [state.refunds[r] for r in state.refunds_by_payment.get(paid["id"], [])]
    return collection.page(refunds, collection.query(params))
