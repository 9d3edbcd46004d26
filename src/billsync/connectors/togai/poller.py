"""Polling forms of the Togai triggers: the safety net for lost or missing webhooks.

Cursor shapes (JSON, persisted by the engine between polls; None = from the beginning,
so the first poll reports every current account / DUE invoice / VOID invoice):

- account.created:   `{"seen": [account ids]}`. Togai accounts carry no creation time, so
  the only cursor is the set of ids already reported (bounded by the org's account quota).
- invoice.generated: `{"due": [invoice ids]}`: the DUE invoices already reported. Ids that
  left DUE are dropped, so the set stays as small as the DUE list.
- invoice.voided:    `{"since": <ISO updatedAt>, "ids": [ids updated exactly then]}`: VOID
  is terminal, so a high-water mark on updatedAt replaces an ever-growing set.

Each new entity is re-fetched (GET by id) so payloads equal the webhook path's exactly,
unless the engine's `known` says the inbox already holds its event (a webhook delivered it):
then the poll only advances its cursor past it. In a burst that skips nearly every GET.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from billsync import errors
from billsync.connectors.togai.client import MAX_PAGE_SIZE, TogaiClient
from billsync.connectors.togai.models import Account, Invoice, TogaiDatetime
from billsync.connectors.togai.triggers import (
    INVOICE_GENERATED,
    INVOICE_VOIDED,
    account_event,
    account_external_id,
    invoice_event,
    invoice_external_id,
    invoice_trigger,
)
from billsync.domain import IncomingEvent

_DATETIME: TypeAdapter[datetime] = TypeAdapter(TogaiDatetime)
#: What a poll saw, phrased as the webhook hint that would have said the same.
_HINTS = {INVOICE_GENERATED: "invoice_generated", INVOICE_VOIDED: "invoice_voided"}
PollResult = tuple[Sequence[IncomingEvent], Mapping[str, Any]]
Known = Callable[[Sequence[str]], Awaitable[set[str]]]


async def poll_accounts(
    client: TogaiClient, cursor: Mapping[str, Any] | None, known: Known | None = None
) -> PollResult:
    seen = set(_strings(cursor, "seen"))
    fresh = list(dict.fromkeys([s.id async for s in _accounts(client) if s.id not in seen]))
    stored = await _already_stored(known, fresh, account_external_id)
    events: list[IncomingEvent] = []
    for account_id in fresh:
        if account_id in stored:
            seen.add(account_id)
            continue
        try:
            account = await client.get_account(account_id)
        except errors.NotFoundError:
            continue
        events.append(account_event(account))
        seen.add(account_id)
    return events, {"seen": sorted(seen)}


async def poll_generated_invoices(
    client: TogaiClient, cursor: Mapping[str, Any] | None, known: Known | None = None
) -> PollResult:
    reported = set(_strings(cursor, "due"))
    due_now: set[str] = set()
    fresh: list[str] = []
    async for summary in _invoices(client, "DUE"):
        due_now.add(summary.id)
        if summary.id not in reported:
            fresh.append(summary.id)
    fresh = list(dict.fromkeys(fresh))
    stored = await _already_stored(known, fresh, lambda i: invoice_external_id(i, "DUE"))
    events: list[IncomingEvent] = []
    accounts: dict[str, Account] = {}
    for invoice_id in fresh:
        if invoice_id in stored:
            continue
        event = await _invoice_event(client, invoice_id, INVOICE_GENERATED, accounts)
        if event is not None:
            events.append(event)
    return _by_time(events), {"due": sorted(due_now)}


async def poll_voided_invoices(
    client: TogaiClient, cursor: Mapping[str, Any] | None, known: Known | None = None
) -> PollResult:
    since = _since(cursor)
    at_since = set(_strings(cursor, "ids"))
    fresh: list[Invoice] = []
    async for summary in _invoices(client, "VOID"):
        updated = summary.updated_at
        if since is not None and (
            updated is None or updated < since or (updated == since and summary.id in at_since)
        ):
            continue
        fresh.append(summary)
    stored = await _already_stored(
        known, [s.id for s in fresh], lambda i: invoice_external_id(i, "VOID")
    )
    events: list[IncomingEvent] = []
    accounts: dict[str, Account] = {}
    high, at_high = since, set(at_since)
    for summary in fresh:
        if summary.id not in stored:
            event = await _invoice_event(client, summary.id, INVOICE_VOIDED, accounts)
            if event is not None:
                events.append(event)
        updated = summary.updated_at
        if updated is not None:
            if high is None or updated > high:
                high, at_high = updated, {summary.id}
            elif updated == high:
                at_high.add(summary.id)
    if high is None:
        return events, {}
    return _by_time(events), {"since": high.isoformat(), "ids": sorted(at_high)}


async def _already_stored(
    known: Known | None, ids: Iterable[str], external_id: Callable[[str], str]
) -> set[str]:
    """The entity ids whose event the inbox already holds (none when `known` is absent)."""
    by_external = {external_id(i): i for i in ids}
    if known is None or not by_external:
        return set()
    found = await known(list(by_external))
    return {by_external[e] for e in found if e in by_external}


async def _invoice_event(
    client: TogaiClient, invoice_id: str, trigger: str, accounts: dict[str, Account]
) -> IncomingEvent | None:
    try:
        invoice = await client.get_invoice(invoice_id)
        # The list is a snapshot: skip invoices that moved on since (the other poller or
        # a webhook reports their new state).
        if invoice_trigger(invoice, _HINTS[trigger]) != trigger or not invoice.owner_id:
            return None
        if invoice.owner_id not in accounts:
            accounts[invoice.owner_id] = await client.get_account(invoice.owner_id)
    except errors.NotFoundError:
        return None
    return invoice_event(trigger, invoice, accounts[invoice.owner_id])


async def _accounts(client: TogaiClient) -> AsyncIterator[Account]:
    token: str | None = None
    while True:
        page = await client.list_accounts(next_token=token)
        for account in page.data:
            yield account
        if not page.next_token or not page.data:
            return
        token = page.next_token


async def _invoices(client: TogaiClient, status: str) -> AsyncIterator[Invoice]:
    token: str | None = None
    while True:
        if token is None:
            page = await client.list_invoices(status=status, page_size=MAX_PAGE_SIZE)
        else:
            # Later pages carry their filters inside the token.
            page = await client.list_invoices(next_token=token)
        for invoice in page.data:
            yield invoice
        if not page.next_token or not page.data:
            return
        token = page.next_token


def _strings(cursor: Mapping[str, Any] | None, key: str) -> list[str]:
    values = (cursor or {}).get(key) or []
    return [v for v in values if isinstance(v, str)] if isinstance(values, list) else []


def _since(cursor: Mapping[str, Any] | None) -> datetime | None:
    value = (cursor or {}).get("since")
    if value is None:
        return None
    try:
        return _DATETIME.validate_python(value)
    except ValidationError:
        return None


def _by_time(events: list[IncomingEvent]) -> list[IncomingEvent]:
    # Oldest first, so runs of one account see changes in the order they happened.
    return sorted(
        events, key=lambda e: (e.occurred_at.isoformat() if e.occurred_at else "~", e.external_id)
    )
