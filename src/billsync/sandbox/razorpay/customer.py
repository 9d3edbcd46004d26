"""Customers: create (with fail_existing), fetch, list, edit; unique on (email, contact)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from billsync.sandbox.razorpay import collection, fields, ids
from billsync.sandbox.razorpay.error import RazorpayError, not_found
from billsync.sandbox.razorpay.state import Entity, State

CREATE_FIELDS = ("name", "email", "contact", "fail_existing", "gstin", "notes")
EXISTS = "Customer already exists for the merchant"
# razorpay-api.md §3.2: 3-50 characters, letters and digits plus `. ' / @ ( )`; spaces too
# (every documented sample name has one). ASCII only: "José" is refused like "Acme, Inc.".
NAME = re.compile(r"[A-Za-z0-9 .'/@()]{3,50}")
# One answer for every way a name fails, too short included: razorpay-node#161 (a name under
# three characters got exactly this) and odoo/odoo#252444 (commas, and names over 50).
NAME_INVALID = "The name format is invalid."


def _contact(data: Mapping[str, Any]) -> str | None:
    value = data.get("contact")
    if value is None:
        return None
    contact = str(value)
    digits = sum(ch.isdigit() for ch in contact)
    if len(contact) > 15 or digits < 8:
        raise RazorpayError(
            "Contact number should be at least 8 digits, including country code",
            field="contact",
            step="NA",
            reason="invalid_contact_number",
        )
    return contact


def _email(data: Mapping[str, Any]) -> str | None:
    email = fields.text(data, "email", max_len=64)
    if email is not None and ("@" not in email or email.startswith("@")):
        raise RazorpayError("The email must be a valid email address.", field="email")
    return email


def _name(data: Mapping[str, Any], key: str = "name") -> str | None:
    name = fields.text(data, key)
    if name is not None and NAME.fullmatch(name) is None:
        raise RazorpayError(NAME_INVALID, field=key)
    return name


def _pair(email: str | None, contact: str | None) -> tuple[str | None, str | None] | None:
    """The uniqueness key; customers with neither email nor contact never collide."""
    if email is None and contact is None:
        return None
    return (email, contact)


def create(state: State, data: Mapping[str, Any]) -> Entity:
    fields.reject_unknown(data, CREATE_FIELDS)
    fail_existing = data.get("fail_existing", "1")
    if fail_existing not in ("0", "1", 0, 1, True, False):
        raise RazorpayError("The selected fail existing is invalid.", field="fail_existing")
    name, email, contact = _name(data), _email(data), _contact(data)
    gstin = fields.text(data, "gstin", max_len=15)
    notes = fields.notes(data)
    pair = _pair(email, contact)
    if pair is not None and pair in state.customer_by_pair:
        # Only the string "0" returns the existing customer: the API reads JSON 0 as the
        # default (razorpay-api.md §3.2), and the match is returned unchanged (UNCONFIRMED).
        if fail_existing == "0":
            return state.customers[state.customer_by_pair[pair]]
        raise RazorpayError(EXISTS, reason="NA")
    return insert(state, name=name, email=email, contact=contact, gstin=gstin, notes=notes)


def insert(
    state: State,
    *,
    name: str | None,
    email: str | None,
    contact: str | None,
    gstin: str | None = None,
    notes: Any = None,
) -> Entity:
    entity: Entity = {
        "id": state.new_id("cust"),
        "entity": "customer",
        "name": name,
        "email": email,
        "contact": contact,
        "gstin": gstin,
        "notes": notes if notes else [],
        "created_at": state.now(),
    }
    state.customers[entity["id"]] = entity
    pair = _pair(email, contact)
    if pair is not None:
        state.customer_by_pair[pair] = entity["id"]
    return entity


def get(state: State, raw_id: str, field: str | None = None) -> Entity:
    entity = state.customers.get(ids.canonical(raw_id, "cust", field))
    if entity is None:
        raise not_found(field)
    return entity


def list_page(state: State, params: Mapping[str, str]) -> dict[str, Any]:
    return collection.page(state.customers.values(), collection.query(params))


def edit(state: State, raw_id: str, data: Mapping[str, Any]) -> Entity:
    entity = get(state, raw_id)
    fields.reject_unknown(data, state.config.customer_edit_fields)
    changes: Entity = {}
    if "name" in data:
        changes["name"] = _name(data)
    if "email" in data:
        changes["email"] = _email(data)
    if "contact" in data:
        changes["contact"] = _contact(data)
    if "gstin" in data:
        changes["gstin"] = fields.text(data, "gstin", max_len=15)
    if "notes" in data:
        changes["notes"] = fields.notes(data)
    old = _pair(entity["email"], entity["contact"])
    new = _pair(changes.get("email", entity["email"]), changes.get("contact", entity["contact"]))
    if new is not None and new != old and new in state.customer_by_pair:
        raise RazorpayError(EXISTS, reason="NA")
    entity.update(changes)
    if old != new:
        if old is not None:
            state.customer_by_pair.pop(old, None)
        if new is not None:
            state.customer_by_pair[new] = entity["id"]
    return entity
