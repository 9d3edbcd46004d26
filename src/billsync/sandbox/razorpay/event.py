"""Webhook events: Razorpay's envelope, snapshotted at emit time, and the HMAC signature."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

from billsync.sandbox.common.webhooks import Signer, WebhookDispatcher, WebhookTarget
from billsync.sandbox.razorpay.state import Entity, EventSink, State


def sign(body: bytes, secret: str) -> str:
    """X-Razorpay-Signature: lowercase hex HMAC-SHA256 of the exact body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def envelope(account_id: str, event: str, payload: Mapping[str, Entity], now: int) -> bytes:
    # Serialised at once: the payload is a snapshot, later changes must not leak into it.
    return json.dumps(
        {
            "entity": "event",
            "account_id": account_id,
            "event": event,
            "contains": list(payload),
            "payload": {key: {"entity": entity} for key, entity in payload.items()},
            "created_at": now,
        },
        ensure_ascii=False,
    ).encode()


def signer(default_secret: str) -> Signer:
    """Headers for one delivery; a target added with its own secret is signed with it."""

    def sign_for(body: bytes, event_id: str, target: WebhookTarget) -> dict[str, str]:
        secret = target.secret if target.secret is not None else default_secret
        return {"X-Razorpay-Signature": sign(body, secret), "X-Razorpay-Event-Id": event_id}

    return sign_for


def sink(state: State, dispatcher: WebhookDispatcher) -> EventSink:
    """Where the state's events go: one envelope, queued for every webhook target."""

    def emit(event: str, payload: dict[str, Entity]) -> None:
        if not dispatcher.targets:
            return
        body = envelope(state.config.account_id, event, payload, state.now())
        # UNCONFIRMED: the format of Razorpay's event ids; any unique string will do.
        dispatcher.emit(event, state.ids.new("evt_"), body)

    return emit
