"""Razorpay webhooks: signature check (before any parsing) and event extraction.

Razorpay signs the exact raw body with HMAC-SHA256 under the webhook secret and sends the
lowercase hex digest in X-Razorpay-Signature; the event id is only in X-Razorpay-Event-Id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from billsync import errors
from billsync.connectors.razorpay.errors import APP
from billsync.domain import IncomingEvent

SIGNATURE_HEADER = "X-Razorpay-Signature"
EVENT_ID_HEADER = "X-Razorpay-Event-Id"

#: Trigger keys billsync knows; any other event type is stored with trigger=None.
TRIGGER_KEYS = frozenset(
    {
        "invoice.paid",
        "invoice.partially_paid",
        "invoice.expired",
        "payment.captured",
        "payment_link.paid",
        "refund.processed",
    }
)
#: Entities whose notes may carry togai_account_id, in order of preference.
_OWNER_ENTITIES = ("invoice", "payment_link", "payment")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def signature(body: bytes, secret: str) -> str:
    """The X-Razorpay-Signature value for `body` (lowercase hex HMAC-SHA256)."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_webhook(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    """Raise errors.SignatureError unless `body` was signed with `secret`."""
    if not secret:
        raise errors.SignatureError(
            "This Razorpay connection has no webhook secret: set webhook_secret to accept webhooks"
        )
    given = _header(headers, SIGNATURE_HEADER)
    if not given:
        raise errors.SignatureError(f"Missing {SIGNATURE_HEADER} header")
    # compare_digest needs ASCII; anything else cannot be a hex digest anyway.
    if not given.isascii() or not hmac.compare_digest(signature(body, secret), given.strip()):
        raise errors.SignatureError(f"{SIGNATURE_HEADER} does not match the body")


def _entities(envelope: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
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


def to_event(headers: Mapping[str, str], envelope: Mapping[str, Any]) -> IncomingEvent:
    """One IncomingEvent from a parsed envelope (the catalogue's payload and keys)."""
    event_type = str(envelope.get("event") or "")
    if not event_type:
        raise errors.RejectedError(
            "Razorpay webhook without an event type", app=APP, operation="parse webhook"
        )
    entities = _entities(envelope)
    payload: dict[str, Any] = {"event": event_type, "account_id": envelope.get("account_id")}
    payload.update(entities)
    primary = _primary(event_type, entities)
    created_at = envelope.get("created_at")
    external_id = _header(headers, EVENT_ID_HEADER) or ":".join(
        [event_type, primary[1] if primary else "", str(created_at or "")]
    )
    account = next(
        (a for name in _OWNER_ENTITIES if (a := _notes_account(entities.get(name, {})))), None
    )
    if account:
        entity_key = f"togai-account:{account}"
    elif primary:
        entity_key = f"razorpay-{primary[0]}:{primary[1]}"
    else:
        entity_key = f"razorpay-event:{external_id}"
    occurred_at = (
        datetime.fromtimestamp(created_at, UTC)
        if isinstance(created_at, int) and not isinstance(created_at, bool)
        else None
    )
    return IncomingEvent(
        trigger=event_type if event_type in TRIGGER_KEYS else None,
        event_type=event_type,
        external_id=external_id,
        entity_key=entity_key,
        payload=payload,
        occurred_at=occurred_at,
    )


async def parse_webhook(
    client: Any, headers: Mapping[str, str], body: bytes
) -> Sequence[IncomingEvent]:
    """Turn one verified delivery into its event. Razorpay signs its bodies: no re-fetch."""
    try:
        envelope = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise errors.RejectedError(
            "Razorpay webhook body is not JSON", app=APP, operation="parse webhook"
        ) from exc
    if not isinstance(envelope, dict):
        raise errors.RejectedError(
            "Razorpay webhook body is not an object", app=APP, operation="parse webhook"
        )
    return [to_event(headers, envelope)]
