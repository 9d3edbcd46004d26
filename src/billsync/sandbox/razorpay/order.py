"""Orders: created behind each issued invoice and each paid payment link."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billsync.sandbox.razorpay import collection, ids
from billsync.sandbox.razorpay.error import not_found
from billsync.sandbox.razorpay.state import Entity, State


def insert(state: State, amount: int, currency: str, receipt: str | None) -> Entity:
    entity: Entity = {
        "id": state.new_id("order"),
        "entity": "order",
        "amount": amount,
        "amount_paid": 0,
        "amount_due": amount,
        "currency": currency,
        "receipt": receipt,
        "offer_id": None,
        "status": "created",
        "attempts": 0,
        "notes": [],
        "created_at": state.now(),
    }
    state.orders[entity["id"]] = entity
    state.payments_by_order[entity["id"]] = []
    return entity


def record_payment(state: State, order: Entity, payment: Entity) -> None:
    order["attempts"] += 1
    order["amount_paid"] += payment["amount"]
    order["amount_due"] = order["amount"] - order["amount_paid"]
    order["status"] = "paid" if order["amount_due"] <= 0 else "attempted"
    state.payments_by_order[order["id"]].append(payment["id"])


def get(state: State, raw_id: str) -> Entity:
    entity = state.orders.get(ids.canonical(raw_id, "order"))
    if entity is None:
        raise not_found()
    return entity


def list_page(state: State, params: Mapping[str, str]) -> dict[str, Any]:
    data = collection.query(params, ("receipt", "authorized"))
    receipt = data.get("receipt")
    return collection.page(
        state.orders.values(),
        data,
        (lambda o: o["receipt"] == receipt) if receipt is not None else None,
    )


def payments_page(state: State, raw_id: str, params: Mapping[str, str]) -> dict[str, Any]:
    order = get(state, raw_id)
    payments = [state.payments[p] for p in state.payments_by_order[order["id"]]]
    return collection.page(payments, collection.query(params))
