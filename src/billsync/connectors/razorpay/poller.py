"""Catch-up polling: captured payments no webhook delivered become the events it would have made.

Razorpay has no event list, and it disables a webhook target after 24 h of failures; but
`GET /v1/payments?from=&to=` lists payments by creation time. One walk over that list per
Razorpay connection serves every payment trigger (`invoice.paid`, `invoice.partially_paid`,
`payment_link.paid`, `payment.captured`): each captured payment billsync has not stored
becomes the event its webhook would have made (event.py `payment_event`), with the same
external id (`<event type>:<payment id>`), so whichever of webhook and poll comes second
creates nothing new.

Cursor (JSON, persisted by the engine in the transaction that stores the events):
`{"since": <unix s>, "pending": {<payment id>: <created_at>}}`.

- `since`: every payment created before it has been looked at. A poll lists the window
  `[since - OVERLAP_S, to]`, `to` = now (at most WINDOW_S after `since`; further windows follow
  in the same poll up to MAX_PAGES list calls, then the next poll goes on), paging with
  `count=100` and `skip` until a short page, then moves `since` to `to`. The overlap covers
  clock skew between billsync and Razorpay and payments that show up in the list a little
  after their `created_at` second; what it lists twice is skipped by `known` (no fetch) and
  would be deduplicated by the inbox anyway.
- `pending`: payments listed before they were captured (created / authorized). A payment is
  listed by its creation time, so one captured after the window moved on would be missed:
  these are fetched again each poll until captured (then reported), failed, or older than
  PENDING_MAX_AGE_S; at most MAX_PENDING (the newest) are kept.
- None (first poll): the walk starts at `start`, which the engine sets to the connection's
  creation time. Payments made since billsync was connected are its business (a webhook for
  them would have started a flow); older ones cannot be on an invoice billsync created, and
  `billsync reconcile --fix` is the backfill.

Calls, for a payment not in the inbox: its invoice once (shared by the payments of one
invoice in a poll), its order once (the webhook's `order` entity), the order's payments
only when the invoice is paid by several payments (to tell the payment that completed it);
a payment without an invoice costs one payment-link lookup when `payment_link.paid` is
wanted. Payments whose events the inbox already holds cost nothing beyond the list pages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from billsync import errors
from billsync.connectors.razorpay import models
from billsync.connectors.razorpay.client import MAX_PAGE, RazorpayClient, list_time
from billsync.connectors.razorpay.event import (
    INVOICE_PAID,
    INVOICE_PARTIALLY_PAID,
    PAYMENT_CAPTURED,
    PAYMENT_LINK_PAID,
    PAYMENT_LINK_PARTIALLY_PAID,
    invoice_payment_type,
    payment_event,
    payment_link_payment_type,
)
from billsync.domain import IncomingEvent

#: The poll cursor's name (one walk per connection, not one per trigger).
CURSOR = "payments"
#: The triggers one walk serves.
TRIGGERS = frozenset({INVOICE_PAID, INVOICE_PARTIALLY_PAID, PAYMENT_LINK_PAID, PAYMENT_CAPTURED})
OVERLAP_S = 120
WINDOW_S = 86_400
MAX_PAGES = 20
PENDING_MAX_AGE_S = 5 * 86_400
MAX_PENDING = 100
_OPEN = frozenset({"created", "authorized"})

PollResult = tuple[Sequence[IncomingEvent], Mapping[str, Any]]
Known = Callable[[Sequence[str]], Awaitable[set[str]]]


async def catch_up(
    client: RazorpayClient,
    cursor: Mapping[str, Any] | None,
    known: Known | None = None,
    *,
    triggers: frozenset[str] = TRIGGERS,
    now: datetime,
    start: datetime,
) -> PollResult:
    """The events of captured payments since `cursor` (or `start`), and the next cursor."""
    now_s = int(now.timestamp())
    since = _since(cursor)
    if since is None:
        since = list_time(int(start.timestamp()))
    listed: dict[str, models.Payment] = {}
    pages = 0
    while True:
        end = list_time(min(now_s, since + WINDOW_S))
        begin = list_time(min(since, end) - OVERLAP_S)
        pages += await _walk(client, begin, end, listed)
        since = max(since, end)
        if since >= now_s or pages >= MAX_PAGES:
            break
    pending = _pending(cursor)
    captured: dict[str, models.Payment] = {}
    for payment in listed.values():
        if _captured(payment):
            captured[payment.id] = payment
            pending.pop(payment.id, None)
        elif payment.status in _OPEN:
            pending[payment.id] = payment.created_at or now_s
        else:
            pending.pop(payment.id, None)
    for payment_id, created in list(pending.items()):
        if payment_id in listed:
            continue
        if now_s - created > PENDING_MAX_AGE_S:
            del pending[payment_id]
            continue
        try:
            payment = await client.fetch_payment(payment_id)
        except errors.NotFoundError:
            del pending[payment_id]
            continue
        if _captured(payment):
            captured[payment.id] = payment
        if payment.status not in _OPEN or _captured(payment):
            del pending[payment_id]
    kept = sorted(pending.items(), key=lambda item: (item[1], item[0]))[-MAX_PENDING:]
    events = await _events(client, list(captured.values()), triggers, known)
    return events, {"since": since, "pending": dict(kept)}


async def _walk(
    client: RazorpayClient, begin: int, end: int, listed: dict[str, models.Payment]
) -> int:
    """Every payment created in [begin, end] into `listed`; returns the pages read."""
    skip = 0
    pages = 0
    while True:
        page = await client.list_payments(
            count=MAX_PAGE, skip=skip, created_from=begin, created_to=end
        )
        pages += 1
        for payment in page.items:
            # Newest first and skip-paged: a payment created meanwhile shifts the list, so
            # one may appear on two pages; none is skipped (`to` also pins the window).
            listed.setdefault(payment.id, payment)
        if len(page.items) < MAX_PAGE:
            return pages
        skip += len(page.items)


def _captured(payment: models.Payment) -> bool:
    # A refunded payment was captured first: its webhooks were sent, so it counts.
    return bool(payment.captured) or payment.status == "captured"


class _Cache:
    """Entities fetched once per poll, shared by the payments of one invoice or order."""

    def __init__(self, client: RazorpayClient) -> None:
        self.client = client
        self.invoices: dict[str, models.Invoice | None] = {}
        self.orders: dict[str, models.Order | None] = {}
        self.order_payments: dict[str, list[models.Payment]] = {}

    async def invoice(self, invoice_id: str) -> models.Invoice | None:
        if invoice_id not in self.invoices:
            try:
                self.invoices[invoice_id] = await self.client.fetch_invoice(invoice_id)
            except errors.NotFoundError:
                self.invoices[invoice_id] = None
        return self.invoices[invoice_id]

    async def order(self, order_id: str | None) -> models.Order | None:
        if not order_id:
            return None
        if order_id not in self.orders:
            try:
                self.orders[order_id] = await self.client.fetch_order(order_id)
            except errors.NotFoundError:
                self.orders[order_id] = None
        return self.orders[order_id]

    async def payments_of(self, order_id: str) -> list[models.Payment]:
        if order_id not in self.order_payments:
            page = await self.client.list_order_payments(order_id)
            self.order_payments[order_id] = list(page.items)
        return self.order_payments[order_id]


def _keys(payment: models.Payment, triggers: frozenset[str]) -> dict[str, list[str]]:
    """Per kind of event this payment may owe, the external ids that would settle it."""
    kinds: dict[str, list[str]] = {}
    if PAYMENT_CAPTURED in triggers:
        kinds["captured"] = [f"{PAYMENT_CAPTURED}:{payment.id}"]
    if payment.invoice_id and triggers & {INVOICE_PAID, INVOICE_PARTIALLY_PAID}:
        kinds["invoice"] = [f"{t}:{payment.id}" for t in (INVOICE_PAID, INVOICE_PARTIALLY_PAID)]
    if not payment.invoice_id and PAYMENT_LINK_PAID in triggers:
        kinds["link"] = [
            f"{t}:{payment.id}" for t in (PAYMENT_LINK_PAID, PAYMENT_LINK_PARTIALLY_PAID)
        ]
    return kinds


async def _events(
    client: RazorpayClient,
    payments: list[models.Payment],
    triggers: frozenset[str],
    known: Known | None,
) -> list[IncomingEvent]:
    owed = {p.id: _keys(p, triggers) for p in payments}
    every = [key for kinds in owed.values() for keys in kinds.values() for key in keys]
    stored = await known(every) if known is not None and every else set()
    cache = _Cache(client)
    events: list[IncomingEvent] = []
    for payment in sorted(payments, key=lambda p: (p.created_at or 0, p.id)):
        for kind, keys in owed[payment.id].items():
            if stored.intersection(keys):
                continue
            event = await _event(cache, kind, payment)
            if event is not None:
                events.append(event)
    return events


async def _event(cache: _Cache, kind: str, payment: models.Payment) -> IncomingEvent | None:
    if kind == "captured":
        return payment_event(PAYMENT_CAPTURED, payment)
    if kind == "invoice":
        assert payment.invoice_id is not None
        invoice = await cache.invoice(payment.invoice_id)
        if invoice is None:
            return None
        order_id = payment.order_id or invoice.order_id
        event_type = invoice_payment_type(payment, invoice)
        if event_type is None:
            siblings = await cache.payments_of(order_id) if order_id else []
            event_type = invoice_payment_type(payment, invoice, siblings)
        return payment_event(
            event_type or INVOICE_PARTIALLY_PAID,
            payment,
            invoice=invoice,
            order=await cache.order(order_id),
        )
    links = await cache.client.list_payment_links(payment_id=payment.id)
    if not links:
        return None
    link = links[0]
    return payment_event(
        payment_link_payment_type(payment, link),
        payment,
        payment_link=link,
        order=await cache.order(payment.order_id or link.order_id),
    )


def _since(cursor: Mapping[str, Any] | None) -> int | None:
    value = (cursor or {}).get("since")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _pending(cursor: Mapping[str, Any] | None) -> dict[str, int]:
    value = (cursor or {}).get("pending")
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, int) and k}
