"""Togai triggers: account.created, invoice.generated, invoice.voided.

Togai signs nothing and publishes no webhook envelope (UNCONFIRMED), so a delivery is only
a hint: it names an entity, and the entity is always re-fetched with the connection's
client. The connection's secret URL token authenticates the delivery (engine side).
Accepted envelope shapes, in order (a documented assumption, matching billsync's sandbox):

- `{"event"|"eventType"|"type": <name>, "payload"|"data"|"entity": <entity or ref>}`
- a reference is `{"entityType": "INVOICE", "entityId": "inv.1"}` (or `entity_type`/
  `entity_id`), an entity object with an `id`, or `{"invoice"|"account": {...}}`
- a bare entity object is accepted too.

Event names are matched loosely (`INVOICE_GENERATED`, `invoice.generated`, "Invoice
generation" …). For invoices the re-fetched status decides: VOID → invoice.voided, DRAFT →
nothing yet, DUE → invoice.generated (see `invoice_trigger`). Every trigger also has a
poller; the external ids (`account:<id>:created`, `invoice:<id>:DUE`, `invoice:<id>:VOID`)
are the same whichever path saw the change, so the engine's dedupe collapses them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from billsync import errors
from billsync.connectors.togai.client import APP, TogaiClient
from billsync.connectors.togai.models import Account, Invoice, TogaiDatetime
from billsync.domain import Hint, IncomingEvent

ACCOUNT_CREATED = "account.created"
INVOICE_GENERATED = "invoice.generated"
INVOICE_VOIDED = "invoice.voided"

_GENERATED_HINTS = frozenset(
    {"invoice_generated", "invoice_generation", "order_generated", "invoice_due", "invoice_created"}
)
_INVOICE_CHANGE_HINTS = frozenset(
    {"invoice_updated", "invoice_updation", "invoice_voided", "invoice_void", "invoice_status"}
)
_COLLECTIBLE = frozenset({"DUE", "PARTIALLY_PAID"})
_ACCOUNT_CREATED_HINTS = frozenset({"account_created", "account_creation", "account_create"})
_DATETIME: TypeAdapter[datetime] = TypeAdapter(TogaiDatetime)


class AccountPayload(BaseModel):
    """account.created: the account exactly as GET /accounts/{id} returns it."""

    account: dict[str, Any]


class InvoicePayload(BaseModel):
    """invoice.generated / invoice.voided: the invoice and its owner account, re-fetched."""

    invoice: dict[str, Any]
    account: dict[str, Any]


def account_external_id(account_id: str) -> str:
    return f"account:{account_id}:created"


def invoice_external_id(invoice_id: str, status: str) -> str:
    return f"invoice:{invoice_id}:{status}"


def account_event(account: Account, occurred_at: datetime | None = None) -> IncomingEvent:
    return IncomingEvent(
        trigger=ACCOUNT_CREATED,
        event_type=ACCOUNT_CREATED,
        external_id=account_external_id(account.id),
        entity_key=f"togai-account:{account.id}",
        payload={"account": account.raw},
        occurred_at=occurred_at,
    )


def invoice_event(
    trigger: str, invoice: Invoice, account: Account, occurred_at: datetime | None = None
) -> IncomingEvent:
    status = "VOID" if trigger == INVOICE_VOIDED else "DUE"
    when = occurred_at or (
        invoice.updated_at if status == "VOID" else invoice.generated_at or invoice.updated_at
    )
    return IncomingEvent(
        trigger=trigger,
        event_type=trigger,
        external_id=invoice_external_id(invoice.id, status),
        entity_key=f"togai-account:{account.id}",
        payload={"invoice": invoice.raw, "account": account.raw},
        occurred_at=when,
    )


def invoice_trigger(invoice: Invoice, hint: str | None) -> str | None:
    """Which trigger a (re-fetched) invoice fires, given the delivery's hint if any.

    A "generated" hint fires only while something is still due: a late delivery for an
    invoice that was voided or paid meanwhile reports nothing (the void has its own
    delivery and poll). Without such a hint the current status decides.
    """
    if hint in _GENERATED_HINTS:
        return INVOICE_GENERATED if invoice.status in _COLLECTIBLE else None
    if invoice.status == "VOID":
        return INVOICE_VOIDED
    if invoice.status == "DUE":
        return INVOICE_GENERATED
    return None


# -- webhooks ------------------------------------------------------------------------


def parse_hint(headers: Mapping[str, str], body: bytes) -> Hint | IncomingEvent:
    """Read one (URL-token-authenticated) delivery without calling Togai: the entity it
    names, as a hint to re-fetch, or an ignored event when it names none we handle."""
    try:
        envelope = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise errors.RejectedError(
            "Togai webhook body is not JSON", app=APP, operation="parse_webhook"
        ) from exc
    if not isinstance(envelope, dict):
        raise errors.RejectedError(
            "Togai webhook body is not a JSON object", app=APP, operation="parse_webhook"
        )
    event_type = _event_type(envelope)
    hint = _normalise(event_type) if event_type else None
    kind, entity_id = _entity_ref(envelope)
    if kind is None and hint:
        kind = "invoice" if hint.startswith(("invoice", "order")) else None
        kind = kind or ("account" if hint.startswith("account") else None)
    occurred_at = _occurred_at(envelope)
    if kind == "account" and entity_id and hint in _ACCOUNT_CREATED_HINTS | {None}:
        return Hint("account", entity_id, hint or "", occurred_at)
    if (
        kind == "invoice"
        and entity_id
        and (hint is None or hint in _GENERATED_HINTS | _INVOICE_CHANGE_HINTS)
    ):
        return Hint("invoice", entity_id, hint or "", occurred_at)
    delivery = _delivery_id(envelope, headers) or hashlib.sha256(body).hexdigest()[:32]
    return _unknown_event(event_type, kind, entity_id, delivery, occurred_at)


async def parse_webhook(
    client: TogaiClient, headers: Mapping[str, str], body: bytes
) -> Sequence[IncomingEvent]:
    """Turn one delivery into at most one re-fetched event, at once (one GET per entity;
    the engine resolves hints in batches instead, see connectors/togai/hints.py)."""
    found = parse_hint(headers, body)
    if isinstance(found, IncomingEvent):
        return [found]
    envelope = json.loads(body)
    hinted_account = _hinted_account_id(envelope)
    try:
        if found.kind == "account":
            account = await client.get_account(found.entity_id)
            return [account_event(account, found.occurred_at)]
        invoice, hinted = await _invoice_and_hinted_account(client, found.entity_id, hinted_account)
        trigger = invoice_trigger(invoice, found.hint or None)
        if trigger is None:
            # Nothing to do in this state (a draft, a late "generated"): stored, ignored.
            delivery = _delivery_id(envelope, headers) or hashlib.sha256(body).hexdigest()[:32]
            event_type = _event_type(envelope)
            return [_unknown_event(event_type, "invoice", invoice.id, delivery, found.occurred_at)]
        owner = _owner(invoice)
        if hinted is None or hinted.id != owner:
            hinted = await client.get_account(owner)
        return [invoice_event(trigger, invoice, hinted, found.occurred_at)]
    except errors.NotFoundError:
        # The hint names nothing that exists (a stale or forged delivery): nothing to do.
        return []


async def _invoice_and_hinted_account(
    client: TogaiClient, invoice_id: str, account_id: str | None
) -> tuple[Invoice, Account | None]:
    """The invoice and, fetched at the same time, the account the hint names (None when it
    names none or that fetch failed): the webhook is acknowledged only after both, so two
    sequential round trips were the intake's pace at real latencies. The caller checks the
    account against the invoice's ownerId and fetches the owner itself when they differ."""
    if account_id is None:
        return await client.get_invoice(invoice_id), None
    invoice, account = await asyncio.gather(
        client.get_invoice(invoice_id), client.get_account(account_id), return_exceptions=True
    )
    if isinstance(invoice, BaseException):
        raise invoice
    if isinstance(account, asyncio.CancelledError):
        raise account
    return invoice, account if isinstance(account, Account) else None


def _hinted_account_id(envelope: Mapping[str, Any]) -> str | None:
    for key in ("payload", "data", "entity"):
        candidate = envelope.get(key)
        if isinstance(candidate, dict):
            for field_name in ("accountId", "ownerId", "account_id"):
                value = candidate.get(field_name)
                if isinstance(value, str) and value:
                    return value
    return None


def _unknown_event(
    event_type: str | None,
    kind: str | None,
    entity_id: str | None,
    delivery: str,
    occurred_at: datetime | None,
) -> IncomingEvent:
    # Stored for the record and ignored by flows; the delivery id dedupes redeliveries.
    return IncomingEvent(
        trigger=None,
        event_type=event_type or "unknown",
        external_id=f"togai:{event_type or 'unknown'}:{delivery}",
        entity_key=f"togai-{kind or 'webhook'}:{entity_id or delivery}",
        payload={},
        occurred_at=occurred_at,
    )


def _delivery_id(envelope: Mapping[str, Any], headers: Mapping[str, str]) -> str | None:
    """The delivery's own id, when it has one (the sandbox sends X-Togai-Event-Id)."""
    for name, value in headers.items():
        if name.lower() == "x-togai-event-id" and value:
            return value
    event_id = envelope.get("eventId")
    if not isinstance(event_id, str) and any(k in envelope for k in ("payload", "data")):
        event_id = envelope.get("id")  # beside a payload/data, "id" is the envelope's own
    return event_id if isinstance(event_id, str) and event_id else None


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def _event_type(envelope: Mapping[str, Any]) -> str | None:
    for key in ("event", "eventType", "event_type", "type", "eventName", "name"):
        value = envelope.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _entity_ref(envelope: Mapping[str, Any]) -> tuple[str | None, str | None]:
    for key in ("payload", "data", "entity"):
        candidate = envelope.get(key)
        if isinstance(candidate, dict):
            found = _ref_in(candidate)
            if found[1]:
                return found
    return _ref_in(envelope)


def _ref_in(obj: Mapping[str, Any]) -> tuple[str | None, str | None]:
    entity_id = obj.get("entityId", obj.get("entity_id"))
    if isinstance(entity_id, str) and entity_id:
        entity_type = obj.get("entityType", obj.get("entity_type"))
        return (_normalise(entity_type) if isinstance(entity_type, str) else None), entity_id
    for kind in ("invoice", "account"):
        nested = obj.get(kind)
        if isinstance(nested, dict) and isinstance(nested.get("id"), str):
            return kind, nested["id"]
    entity_id = obj.get("id")
    if isinstance(entity_id, str) and entity_id:
        if "invoiceClass" in obj or "totalAmount" in obj or entity_id.startswith("inv."):
            return "invoice", entity_id
        if "togaiAccountId" in obj:
            return "account", entity_id
        return None, entity_id
    return None, None


def _occurred_at(envelope: Mapping[str, Any]) -> datetime | None:
    for key in ("emittedAt", "occurredAt", "timestamp", "createdAt"):
        value = envelope.get(key)
        if value is not None:
            try:
                return _DATETIME.validate_python(value)
            except ValidationError:
                return None
    return None


def owner_of(invoice: Invoice) -> str:
    """The invoice's account id (RejectedError when Togai gave none)."""
    return _owner(invoice)


def _owner(invoice: Invoice) -> str:
    if not invoice.owner_id:
        raise errors.RejectedError(
            f"invoice {invoice.id} has no ownerId", app=APP, operation="parse_webhook"
        )
    return invoice.owner_id
