"""Invoice line items: inline name/amount/quantity only (no item catalogue in the sandbox)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billsync.sandbox.razorpay import fields
from billsync.sandbox.razorpay.error import RazorpayError, not_found
from billsync.sandbox.razorpay.state import Entity, State

FIELDS = ("id", "item_id", "name", "description", "amount", "currency", "quantity")
MAX_ITEMS = 50


def _priced(entity: Entity) -> Entity:
    # UNCONFIRMED: how gross/net scale with quantity > 1; they are taken as unit × quantity.
    total = entity["amount"] * entity["quantity"]
    entity.update(
        unit_amount=entity["amount"],
        gross_amount=total,
        taxable_amount=total,
        net_amount=total,
    )
    return entity


def build(state: State, data: Any, currency: str, current: Entity | None = None) -> Entity:
    """A new line item, or `current` with the fields sent changed."""
    if not isinstance(data, Mapping):
        raise RazorpayError("The line_items must be an array of objects.", field="line_items")
    fields.reject_unknown(data, FIELDS)
    if data.get("item_id") is not None:
        # Only inline items exist here; a catalogue item id can never be found.
        raise not_found("item_id")
    if current is None:
        if not data.get("name"):
            raise RazorpayError(
                "The name field is required when item id is not present.", field="name"
            )
        if data.get("amount") is None:
            raise RazorpayError(
                "The amount field is required when item id is not present.", field="amount"
            )
        current = {
            "id": state.new_id("li"),
            "item_id": None,
            "ref_id": None,
            "ref_type": None,
            "name": None,
            "description": None,
            "amount": 0,
            "currency": currency,
            "type": "invoice",
            "tax_inclusive": False,
            "hsn_code": None,
            "sac_code": None,
            "tax_rate": None,
            "unit": None,
            "quantity": 1,
            "taxes": [],
            "tax_amount": 0,
        }
    if "name" in data:
        current["name"] = fields.text(data, "name", max_len=250)
    if "description" in data:
        current["description"] = fields.text(data, "description", max_len=2048)
    if "amount" in data:
        amount = fields.integer(data, "amount")
        if amount is None or amount < 0:
            raise RazorpayError("The amount must be at least 0.", field="amount")
        current["amount"] = amount
    if "quantity" in data:
        quantity = fields.integer(data, "quantity", 1)
        if quantity is None or quantity < 1:
            raise RazorpayError("The quantity must be at least 1.", field="quantity")
        current["quantity"] = quantity
    if data.get("currency", currency) != currency:
        raise RazorpayError(
            "Currency of all items should be the same as of the invoice.", field="currency"
        )
    return _priced(current)


def merge(state: State, existing: list[Entity], sent: Any, currency: str) -> list[Entity]:
    """Draft update: items with an `id` are changed, items without one are added.

    UNCONFIRMED: whether items left out of the update are removed; they are kept here.
    """
    if not isinstance(sent, list):
        raise RazorpayError("The line_items must be an array.", field="line_items")
    items = {item["id"]: dict(item) for item in existing}
    for data in sent:
        item_id = data.get("id") if isinstance(data, Mapping) else None
        if item_id is None:
            item = build(state, data, currency)
            items[item["id"]] = item
        elif item_id in items:
            items[item_id] = build(state, data, currency, items[item_id])
        else:
            raise not_found("line_items.id")
    if len(items) > MAX_ITEMS:
        raise RazorpayError(
            f"The line items may not have more than {MAX_ITEMS} items.", field="line_items"
        )
    return list(items.values())
