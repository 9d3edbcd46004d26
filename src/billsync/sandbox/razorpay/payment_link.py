"""Payment links: create (reference_id unique), fetch, list, edit, cancel, notify."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billsync.sandbox.razorpay import fields, ids
from billsync.sandbox.razorpay.error import RazorpayError, not_found
from billsync.sandbox.razorpay.state import Entity, State

CREATE_FIELDS = (
    "amount", "currency", "accept_partial", "first_min_partial_amount", "expire_by",
    "reference_id", "description", "customer", "notify", "reminder_enable", "notes",
    "callback_url", "callback_method", "upi_link",
)  # fmt: skip
EDIT_FIELDS = ("reference_id", "expire_by", "notes", "reminder_enable", "accept_partial")
EXPIRE_MESSAGE = "timestamp must be atleast 15 minutes in future"
# UNCONFIRMED wording: Razorpay documents the six-month cap, not its refusal text.
EXPIRE_MAX_MESSAGE = "timestamp must not be more than 6 months after the link's creation"
NOTE_MAX_LEN = 255


def _refuse_unknown(data: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    # Payment links answer unknown input with their own wording (razorpay-api.md §5).
    if any(key not in allowed for key in data):
        raise RazorpayError("wrong input fields sent.", reason="NA")


def _reference(state: State, data: Mapping[str, Any], own_id: str | None = None) -> str:
    reference = fields.text(data, "reference_id", max_len=40) or ""
    taken = state.link_by_reference.get(reference) if reference else None
    if taken is not None and taken != own_id:
        raise RazorpayError(
            "payment link creation with reference ID already attempted", field="reference_id"
        )
    return reference


def _expire_by(state: State, data: Mapping[str, Any], created_at: int) -> int:
    """At least 15 minutes ahead, at most link_max_expiry_s after creation; that cap is
    also the default (razorpay-api.md §5: "default and max 6 months from creation")."""
    latest = created_at + state.config.link_max_expiry_s
    value = fields.future_timestamp(data, "expire_by", state.now(), EXPIRE_MESSAGE)
    if value is None:
        return latest
    if value > latest:
        raise RazorpayError(EXPIRE_MAX_MESSAGE, field="expire_by")
    return value


def create(state: State, data: Mapping[str, Any]) -> Entity:
    _refuse_unknown(data, CREATE_FIELDS)
    now = state.now()
    amount = fields.integer(data, "amount")
    if amount is None:
        raise RazorpayError("The amount field is required.", field="amount")
    currency = fields.currency(data, "INR", state.config.international)
    if amount < state.config.min_amount:
        raise RazorpayError(
            f"The amount must be at least {currency} {state.config.min_amount / 100:.2f}",
            field="amount",
        )
    accept_partial = fields.flag(data, "accept_partial", False)
    first_min = fields.integer(data, "first_min_partial_amount", 0)
    customer_spec = data.get("customer") or {}
    notify_spec = data.get("notify") or {}
    if not isinstance(customer_spec, Mapping) or not isinstance(notify_spec, Mapping):
        raise RazorpayError("wrong input fields sent.", reason="NA")
    _refuse_unknown(customer_spec, ("name", "email", "contact"))
    _refuse_unknown(notify_spec, ("sms", "email", "whatsapp"))
    callback_url = fields.text(data, "callback_url") or ""
    callback_method = fields.text(data, "callback_method") or ""
    if bool(callback_url) != bool(callback_method) or callback_method not in ("", "get"):
        raise RazorpayError(
            "callback_url and callback_method (get) must be sent together.",
            field="callback_method",
        )
    link: Entity = {
        "id": state.new_id("plink"),
        "entity": "payment_link",
        "amount": amount,
        "amount_paid": 0,
        "currency": currency,
        "accept_partial": accept_partial,
        "first_min_partial_amount": first_min,
        "description": fields.text(data, "description", max_len=2048) or "",
        "reference_id": _reference(state, data),
        "status": "created",
        "customer": {
            k: customer_spec[k] for k in ("name", "email", "contact") if k in customer_spec
        },
        "notify": {
            "sms": fields.flag(notify_spec, "sms", False),
            "email": fields.flag(notify_spec, "email", False),
            "whatsapp": fields.flag(notify_spec, "whatsapp", False),
        },
        "notes": fields.notes(data, max_len=NOTE_MAX_LEN) or None,
        "payments": None,
        "order_id": "",
        "short_url": state.short_url(),
        "expire_by": _expire_by(state, data, now),
        "expired_at": 0,
        "cancelled_at": 0,
        "callback_url": callback_url,
        "callback_method": callback_method,
        "reminder_enable": fields.flag(data, "reminder_enable", False),
        "reminders": [],
        "upi_link": fields.flag(data, "upi_link", False),
        "user_id": "",
        "created_at": now,
        "updated_at": now,
    }
    state.payment_links[link["id"]] = link
    state.schedule_expiry("payment_link", link)
    if link["reference_id"]:
        state.link_by_reference[link["reference_id"]] = link["id"]
    return link


def get(state: State, raw_id: str) -> Entity:
    link = state.payment_links.get(ids.canonical(raw_id, "plink"))
    if link is None:
        raise not_found()
    return link


def list_all(state: State, params: Mapping[str, str]) -> dict[str, Any]:
    """Not a collection: Razorpay answers {"payment_links": [...]}, newest first."""
    fields.reject_unknown(params, ("payment_id", "reference_id"))
    reference = params.get("reference_id")
    payment_id = params.get("payment_id")
    found = []
    for link in reversed(state.payment_links.values()):
        if reference is not None and link["reference_id"] != reference:
            continue
        if payment_id is not None and not any(
            p["payment_id"] == payment_id for p in link["payments"] or ()
        ):
            continue
        found.append(link)
    return {"payment_links": found}


def edit(state: State, raw_id: str, data: Mapping[str, Any]) -> Entity:
    link = get(state, raw_id)
    _refuse_unknown(data, EDIT_FIELDS)
    if link["status"] not in ("created", "partially_paid"):
        raise RazorpayError("update can only be made in created or partially paid state")
    changes: Entity = {}
    if "reference_id" in data:
        changes["reference_id"] = _reference(state, data, link["id"])
    if "expire_by" in data:
        changes["expire_by"] = _expire_by(state, data, link["created_at"])
    if "notes" in data:
        changes["notes"] = fields.notes(data, max_len=NOTE_MAX_LEN) or None
    for key in ("reminder_enable", "accept_partial"):
        if key in data:
            changes[key] = fields.flag(data, key, False)
    if "reference_id" in changes:
        state.link_by_reference.pop(link["reference_id"], None)
        if changes["reference_id"]:
            state.link_by_reference[changes["reference_id"]] = link["id"]
    link.update(changes, updated_at=state.now())
    if "expire_by" in changes:
        state.schedule_expiry("payment_link", link)
    return link


def _closeable(link: Entity) -> None:
    status = link["status"]
    if status in ("paid", "partially_paid"):
        raise RazorpayError("cannot cancel or expire an already paid/partially paid link")
    if status == "expired":
        raise RazorpayError("cannot cancel or expire an expired link")
    if status == "cancelled":
        # UNCONFIRMED wording for a second cancel.
        raise RazorpayError("cannot cancel or expire an already cancelled link")


def cancel(state: State, raw_id: str) -> Entity:
    link = get(state, raw_id)
    _closeable(link)
    now = state.now()
    link.update(status="cancelled", cancelled_at=now, updated_at=now)
    state.emit("payment_link.cancelled", {"payment_link": link})
    return link


def expire(state: State, raw_id: str) -> Entity:
    link = get(state, raw_id)
    _closeable(link)
    now = state.now()
    link.update(status="expired", expired_at=now, updated_at=now)
    state.emit("payment_link.expired", {"payment_link": link})
    return link


def notify(state: State, raw_id: str, medium: str) -> dict[str, bool]:
    get(state, raw_id)
    if medium not in ("sms", "email"):
        raise RazorpayError("not a valid notification medium", field="medium")
    return {"success": True}
