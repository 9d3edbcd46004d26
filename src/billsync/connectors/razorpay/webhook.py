"""Razorpay webhooks: signature check (before any parsing) and event extraction.

Razorpay signs the exact raw body with HMAC-SHA256 under the webhook secret and sends the
lowercase hex digest in X-Razorpay-Signature. Its event id travels only in the unsigned
X-Razorpay-Event-Id header, so billsync does not dedupe on it: the key comes from the signed
body (connectors/razorpay/event.py), and a replay under any event id stores nothing new.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any

from billsync import errors
from billsync.connectors.razorpay.errors import APP
from billsync.connectors.razorpay.event import to_event
from billsync.domain import IncomingEvent

SIGNATURE_HEADER = "X-Razorpay-Signature"


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
    # The event id header is deliberately unused: it is not signed (see event.py).
    return [to_event(envelope)]
