"""Webhook events the Togai sandbox emits, in billsync's own envelope.

Togai documents no envelope, headers or signature for its webhook flows (UNCONFIRMED). The
sandbox sends `{"id", "type", "createdAt", "data": {"entityType", "entityId", ...}}` with an
`X-Togai-Event-Id` header; receivers should re-fetch the entity instead of trusting the body.
"""

from __future__ import annotations

import hashlib
import hmac

from billsync.sandbox.common.ids import IdGenerator
from billsync.sandbox.common.webhooks import WebhookDispatcher, WebhookTarget
from billsync.sandbox.togai.responses import dumps, iso, now
from billsync.sandbox.togai.store import Record

ACCOUNT_CREATED = "account.created"
INVOICE_GENERATED = "invoice.generated"
INVOICE_UPDATED = "invoice.updated"


def sign(body: bytes, event_id: str, target: WebhookTarget) -> dict[str, str]:
    headers = {"X-Togai-Event-Id": event_id}
    if target.secret:
        # A sandbox feature for receivers that want one; real Togai signs nothing we know of.
        digest = hmac.new(target.secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Sandbox-Signature"] = f"sha256={digest}"
    return headers


class TogaiEvents:
    def __init__(self, dispatcher: WebhookDispatcher, ids: IdGenerator) -> None:
        self.dispatcher = dispatcher
        self.ids = ids

    def account_created(self, account: Record) -> None:
        self._emit(
            ACCOUNT_CREATED,
            {
                "entityType": "ACCOUNT",
                "entityId": account["id"],
                "customerId": account["customerId"],
                "status": account["status"],
            },
        )

    def invoice_changed(self, invoice: Record) -> None:
        """`invoice.generated` on entering DUE, `invoice.updated` on any other change."""
        kind = INVOICE_GENERATED if invoice["status"] == "DUE" else INVOICE_UPDATED
        self._emit(
            kind,
            {
                "entityType": "INVOICE",
                "entityId": invoice["id"],
                "accountId": invoice["ownerId"],
                "status": invoice["status"],
            },
        )

    def _emit(self, event_type: str, data: Record) -> None:
        if not self.dispatcher.targets:
            return
        event_id = "evt." + self.ids.token(11) + "." + self.ids.token(5)
        envelope = {"id": event_id, "type": event_type, "createdAt": iso(now()), "data": data}
        self.dispatcher.emit(event_type, event_id, dumps(envelope))
