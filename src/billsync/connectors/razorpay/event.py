"""A Razorpay event as billsync stores it: its dedupe key, ordering key and payload, whether
it arrived by webhook or was rebuilt from a payment (catch-up polling, reconciliation).

The dedupe key (`external_id`) is derived from the signed body only. X-Razorpay-Event-Id is
not signed, so a captured body re-sent under another id (or none) must collide with the
first delivery; and a poll that finds a payment the webhook already delivered must collide
with it too, although a poll never sees an event id. So:

- an event about one payment (`invoice.paid`, `invoice.partially_paid`, `payment.captured`,
  `payment_link.paid`, ...; see PAYMENT_EVENTS) is `<event type>:<payment id>`: Razorpay sends
  each of them once per payment;
- an event that happens once in an entity's life (`invoice.expired`, `refund.processed`,
  `payment_link.expired`, ...; see ONCE_PER_ENTITY) is `<event type>:<entity id>`;
- any other event type is `<event type>:<name>=<id>,...@<created_at>` over every entity in the
  payload: an event that may recur for the same entities (a subscription halted twice) stays
  distinct by its creation time, and a re-sent body still collides with itself.

Keys longer than the column (255) are replaced by a digest of the same text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from billsync import errors
from billsync.connectors.razorpay import models
from billsync.connectors.razorpay.errors import APP
from billsync.domain import IncomingEvent

INVOICE_PAID = "invoice.paid"
INVOICE_PARTIALLY_PAID = "invoice.partially_paid"
PAYMENT_CAPTURED = "payment.captured"
PAYMENT_LINK_PAID = "payment_link.paid"
PAYMENT_LINK_PARTIALLY_PAID = "payment_link.partially_paid"

#: Trigger keys billsync knows; any other event type is stored with trigger=None.
TRIGGER_KEYS = frozenset(
    {
        INVOICE_PAID,
        INVOICE_PARTIALLY_PAID,
        "invoice.expired",
        PAYMENT_CAPTURED,
        PAYMENT_LINK_PAID,
        "refund.processed",
    }
)
#: Events Razorpay sends once per payment: keyed on the payment id.
PAYMENT_EVENTS = frozenset(
    {
        INVOICE_PAID,
        INVOICE_PARTIALLY_PAID,
        "payment.authorized",
        PAYMENT_CAPTURED,
        "payment.failed",
        "order.paid",
        PAYMENT_LINK_PAID,
        PAYMENT_LINK_PARTIALLY_PAID,
    }
)
#: Events Razorpay sends once in an entity's life: keyed on that entity's id.
ONCE_PER_ENTITY: Mapping[str, str] = {
    "invoice.expired": "invoice",
    "refund.created": "refund",
    "refund.processed": "refund",
    "refund.failed": "refund",
    "payment_link.cancelled": "payment_link",
    "payment_link.expired": "payment_link",
}
#: Entities whose notes may carry togai_account_id, in order of preference.
_OWNER_ENTITIES = ("invoice", "payment_link", "payment")
_MAX_KEY = 255


def external_id(
    event_type: str, entities: Mapping[str, Mapping[str, Any]], created_at: object = None
) -> str:
    """The dedupe key of an event (see the module docstring)."""
    key: str | None = None
    if event_type in PAYMENT_EVENTS:
        key = _keyed(event_type, entities, "payment")
    elif event_type in ONCE_PER_ENTITY:
        key = _keyed(event_type, entities, ONCE_PER_ENTITY[event_type])
    if key is None:
        ids = ",".join(
            f"{name}={entity.get('id')}"
            for name, entity in sorted(entities.items())
            if entity.get("id")
        )
        key = f"{event_type}:{ids}@{created_at if created_at is not None else ''}"
    if len(key) > _MAX_KEY:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        key = f"{event_type[: _MAX_KEY - 72]}:sha256:{digest}"
    return key


def _keyed(event_type: str, entities: Mapping[str, Mapping[str, Any]], name: str) -> str | None:
    entity = entities.get(name)
    value = entity.get("id") if entity is not None else None
    return f"{event_type}:{value}" if isinstance(value, str) and value else None


def entities_of(envelope: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """`payload.<name>.entity` of a webhook envelope, by name."""
    payload = envelope.get("payload")
    found: dict[str, dict[str, Any]] = {}
    if isinstance(payload, dict):
        for name, wrapper in payload.items():
            entity = wrapper.get("entity") if isinstance(wrapper, dict) else None
            if isinstance(entity, dict):
                found[name] = entity
    return found


def _notes_account(entity: Mapping[str, Any]) -> str | None:
    notes = entity.get("notes")
    if isinstance(notes, dict):
        value = notes.get("togai_account_id")
        if isinstance(value, str) and value:
            return value
    return None


def _primary(event_type: str, entities: Mapping[str, dict[str, Any]]) -> tuple[str, str] | None:
    """(entity name, id) of the object the event is about: its prefix, e.g. refund.*."""
    prefix = event_type.split(".", 1)[0]
    for name in (prefix, *entities):
        entity = entities.get(name)
        if entity is not None and entity.get("id"):
            return name, str(entity["id"])
    return None


def to_event(envelope: Mapping[str, Any]) -> IncomingEvent:
    """One IncomingEvent from a parsed envelope (the catalogue's payload and keys)."""
    event_type = envelope.get("event")
    if not isinstance(event_type, str) or not event_type:
        raise errors.RejectedError(
            "Razorpay webhook without an event type", app=APP, operation="parse webhook"
        )
    entities = entities_of(envelope)
    payload: dict[str, Any] = {"event": event_type, "account_id": envelope.get("account_id")}
    payload.update(entities)
    primary = _primary(event_type, entities)
    created_at = envelope.get("created_at")
    key = external_id(event_type, entities, created_at)
    account = next(
        (a for name in _OWNER_ENTITIES if (a := _notes_account(entities.get(name, {})))), None
    )
    if account:
        entity_key = f"togai-account:{account}"
    elif primary:
        entity_key = f"razorpay-{primary[0]}:{primary[1]}"
    else:
        entity_key = f"razorpay-event:{key}"
    return IncomingEvent(
        trigger=event_type if event_type in TRIGGER_KEYS else None,
        event_type=event_type,
        external_id=key,
        entity_key=entity_key[:_MAX_KEY],
        payload=payload,
        occurred_at=_time(created_at),
    )


def _time(value: object) -> datetime | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        # A signed body may still carry a nonsense time; the event keeps no time then.
        return None


def _dump(entity: models.Entity | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(entity, models.Entity):
        return entity.model_dump(mode="json", exclude_unset=True)
    return dict(entity)


def invoice_payment_type(
    payment: models.Payment,
    invoice: models.Invoice,
    order_payments: Sequence[models.Payment] | None = None,
) -> str | None:
    """`invoice.paid` when `payment` completed `invoice`, `invoice.partially_paid` when it
    left some of it due, as Razorpay's webhook for that payment said.

    The invoice shows its state now, not after this payment: when it is paid and the
    payment alone does not cover it, only the order's payments tell which one completed
    it. `order_payments` is the list as Razorpay answers it, newest first: payments made in
    the same second keep that order (created_at has second precision). Returns None when
    that is needed and `order_payments` is not given.
    """
    amount = invoice.amount or 0
    if payment.amount >= amount:
        return INVOICE_PAID
    if invoice.status != "paid":
        # Never completed (partially paid, or expired/cancelled after a part payment).
        return INVOICE_PARTIALLY_PAID
    if order_payments is None:
        return None
    paid = 0
    captured = [p for p in reversed(order_payments) if p.captured or p.status == "captured"]
    # Stable: within one second, the list's own order (reversed: oldest first) stands.
    for candidate in sorted(captured, key=lambda p: p.created_at or 0):
        paid += candidate.amount
        if candidate.id == payment.id:
            return INVOICE_PAID if paid >= amount else INVOICE_PARTIALLY_PAID
    # The payment is not among the order's captured payments: it cannot have completed it.
    return INVOICE_PARTIALLY_PAID


def payment_link_payment_type(payment: models.Payment, link: models.PaymentLink) -> str:
    """`payment_link.paid` when `payment` completed `link`, else `payment_link.partially_paid`."""
    if link.status != "paid":
        return PAYMENT_LINK_PARTIALLY_PAID
    if payment.amount >= link.amount:
        return PAYMENT_LINK_PAID
    payments = link.model_extra.get("payments") if link.model_extra else None
    rows = [p for p in payments or () if isinstance(p, dict) and p.get("payment_id")]
    if not rows:
        return PAYMENT_LINK_PAID
    # The link lists its payments oldest first; of those in the latest second, the last.
    latest = max(reversed(rows), key=lambda p: p.get("created_at") or 0)
    return PAYMENT_LINK_PAID if latest["payment_id"] == payment.id else PAYMENT_LINK_PARTIALLY_PAID


def payment_event(
    event_type: str,
    payment: models.Payment | Mapping[str, Any],
    *,
    invoice: models.Invoice | Mapping[str, Any] | None = None,
    payment_link: models.PaymentLink | Mapping[str, Any] | None = None,
    order: models.Order | Mapping[str, Any] | None = None,
    account_id: str | None = None,
) -> IncomingEvent:
    """The event Razorpay's `event_type` webhook for `payment` would have made: same
    trigger, external id, entity key and payload shape (`{"event", "account_id", "payment",
    "invoice" | "payment_link", "order"}` as the webhook carries them).

    Use it to record a payment no webhook delivered (catch-up polling, reconciliation); pick
    the type with `invoice_payment_type` / `payment_link_payment_type`. The entities are
    their state now rather than at the event, and `account_id` (the Razorpay merchant
    account of the envelope) is None unless given: the API does not show it.
    """
    entities: dict[str, dict[str, Any]] = {"payment": _dump(payment)}
    if order is not None:
        entities["order"] = _dump(order)
    if invoice is not None:
        entities["invoice"] = _dump(invoice)
    if payment_link is not None:
        entities["payment_link"] = _dump(payment_link)
    created_at = entities["payment"].get("created_at")
    return to_event(
        {
            "entity": "event",
            "account_id": account_id,
            "event": event_type,
            "contains": list(entities),
            "payload": {name: {"entity": entity} for name, entity in entities.items()},
            "created_at": created_at,
        }
    )
