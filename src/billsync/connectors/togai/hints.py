"""Resolving Togai webhook hints in batches: many hints, few calls.

Togai signs nothing, so a delivery only says "look at account X / invoice Y" and the
entity is re-fetched before anything runs (the trust anchor). The engine stores hints as
they arrive and hands them here in batches, one kind at a time (accounts first):

- a hint whose event the inbox already holds costs nothing (a redelivery, a poll was first);
- when more hints wait than the last sweep of the list took pages, the list is swept
  (`GET /accounts?pageSize=100`, `GET /invoices?status=DUE&pageSize=50`) and every hinted
  entity found there resolved from it; a sweep never reads more pages than the hints left
  to find, so it costs at most what one GET per hint would;
- a sweep first resumes where the previous one read its last page (`resume`, an opaque
  nextToken): Togai pages by keyset, so entities added since then are found in the pages
  from there on without re-reading the whole list; whatever that does not find is swept
  from the start as above (or fetched one by one). Where new entities land in the list
  order is UNCONFIRMED for the real API; the fallback keeps the result the same either way,
  only the calls differ;
- what a sweep did not find (an invoice no longer DUE, a stale or forged id, a sweep cut
  short) is fetched one by one, as the immediate path does.

An invoice's account is not fetched when the inbox already holds that account's
`account.created` event (the usual order: an account, then its invoices): its runs come
first (per-account order) and give the invoice flow the Razorpay customer from billsync's
mapping. The event then carries the account as the invoice describes it
(`invoiceDetails.account` plus `ownerId`/`customerId`); list summaries carry no
`usageInfo`, `revenueInfo`, `metadata` or `info` (Togai's InvoiceSummary), which the
predefined flows do not read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billsync import errors
from billsync.connectors.spec import HintResolution, Known
from billsync.connectors.togai.client import MAX_PAGE_SIZE, TogaiClient
from billsync.connectors.togai.models import Account, Invoice
from billsync.connectors.togai.triggers import (
    account_event,
    account_external_id,
    invoice_event,
    invoice_external_id,
    invoice_trigger,
    owner_of,
)
from billsync.domain import Hint, IncomingEvent

ACCOUNT = "account"
INVOICE = "invoice"
KINDS = (ACCOUNT, INVOICE)
#: Togai lists accounts up to 100 a page (invoices: 50).
ACCOUNT_PAGE_SIZE = 100
_GENERATED = frozenset({"", "invoice_generated", "invoice_generation", "order_generated"})
_GENERATED |= {"invoice_due", "invoice_created"}


async def resolve_hints(
    client: TogaiClient,
    kind: str,
    hints: Sequence[Hint],
    known: Known,
    *,
    list_pages: int | None = None,
    resume: str | None = None,
) -> HintResolution:
    if kind == ACCOUNT:
        return await _accounts(client, hints, known, _Position(list_pages, resume))
    if kind == INVOICE:
        return await _invoices(client, hints, known, _Position(list_pages, resume))
    return HintResolution()


@dataclass
class _Position:
    """What the engine remembers of a kind's list between rounds, updated by the sweeps."""

    list_pages: int | None
    resume: str | None
    #: pages a full sweep read this round (None: none ran)
    swept_pages: int | None = None
    #: the nextToken of the last page read this round (None: no page read)
    last_page: str | None = None
    #: the API refused `resume`: the engine drops it
    forget: bool = False


def _first_seen(hints: Sequence[Hint]) -> dict[str, datetime | None]:
    """Entity id → the earliest time a hint gave for it, in the hints' order."""
    seen: dict[str, datetime | None] = {}
    for hint in hints:
        when = seen.get(hint.entity_id)
        if hint.entity_id not in seen or (
            hint.occurred_at is not None and (when is None or hint.occurred_at < when)
        ):
            seen[hint.entity_id] = hint.occurred_at
    return seen


def _worth_a_sweep(wanted: int, list_pages: int | None) -> bool:
    # Unknown list size: a sweep of a short list is the cheap bet; the cap below bounds it.
    return wanted > max(1, list_pages or 1)


async def _accounts(
    client: TogaiClient, hints: Sequence[Hint], known: Known, position: _Position
) -> HintResolution:
    when = _first_seen(hints)
    stored = await _stored(known, list(when), account_external_id)
    wanted = [i for i in when if i not in stored]
    found, left = await _listed(
        lambda token: client.list_accounts(next_token=token, page_size=ACCOUNT_PAGE_SIZE),
        wanted,
        position,
    )
    events: list[IncomingEvent] = []
    for account_id in wanted:
        if account_id in left:
            continue
        account = found.get(account_id)
        if account is None:
            try:
                account = await client.get_account(account_id)
            except errors.NotFoundError:
                continue  # a stale or forged hint: nothing exists to sync
            except errors.UnavailableError:
                left.add(account_id)
                continue
        events.append(account_event(account, when[account_id]))
    return _done(events, position, left, len(wanted))


async def _listed(
    fetch: Any, wanted: Sequence[str], position: _Position
) -> tuple[dict[str, Any], set[str]]:
    """The wanted entities found in the list: first from where the last sweep left off,
    then, for what is still missing and worth it, from the start. Returns what was found
    and the ids a failed page left unknown (to retry later, not to fetch one by one)."""
    found: dict[str, Any] = {}
    if position.resume is not None and wanted:
        try:
            part, _, last, cut = await _sweep(fetch, set(wanted), start=position.resume)
        except errors.RejectedError:
            part, last, cut = {}, None, False  # a token the API no longer takes
            position.forget = True
        found.update(part)
        position.last_page = last or position.last_page
        if cut:
            return found, set(wanted) - set(found)
    rest = [i for i in wanted if i not in found]
    if not _worth_a_sweep(len(rest), position.list_pages):
        return found, set()
    part, pages, last, cut = await _sweep(fetch, set(rest))
    found.update(part)
    position.swept_pages = pages
    position.last_page = last or position.last_page
    return found, (set(rest) - set(part)) if cut else set()


async def _sweep(
    fetch: Any, wanted: set[str], start: str | None = None
) -> tuple[dict[str, Any], int, str | None, bool]:
    """Pages of a list from `start` (None: the first page) until every wanted id is found,
    the list ends, or the pages read reach the ids left to find (a GET each would cost no
    more). Returns what was found, the pages the whole list takes at least (so a list
    longer than the cap is not swept again for as few), the nextToken of the last page that
    held entities (where a later sweep can resume), and whether a failed page (5xx,
    timeout) cut the sweep short."""
    found: dict[str, Any] = {}
    token = start
    last: str | None = None
    pages = 0
    while True:
        try:
            page = await fetch(token)
        except errors.UnavailableError:
            if not found:
                raise
            return found, max(pages, 1), last, True
        pages += 1
        if page.data and token is not None:
            last = token
        for item in page.data:
            if item.id in wanted:
                found[item.id] = item
        token = page.next_token
        if not token or not page.data or len(found) == len(wanted):
            return found, pages, last, False
        if pages >= len(wanted) - len(found):
            return found, 2 * pages, last, False


def _done(
    events: list[IncomingEvent], position: _Position, left: set[str], wanted: int
) -> HintResolution:
    if left and not events and len(left) == wanted:
        raise errors.UnavailableError(
            f"no hinted Togai entity could be fetched ({len(left)} left)",
            app="togai",
            operation="resolve hints",
        )
    resume = position.last_page or ("" if position.forget else None)
    return HintResolution(events, position.swept_pages, frozenset(left), resume)


async def _invoices(
    client: TogaiClient, hints: Sequence[Hint], known: Known, position: _Position
) -> HintResolution:
    when = _first_seen(hints)
    # The most telling hint per invoice: a change (update/void) outranks "generated".
    hint_of: dict[str, str] = {}
    for hint in hints:
        if hint.entity_id not in hint_of or hint.hint not in _GENERATED:
            hint_of[hint.entity_id] = hint.hint
    ids = list(when)
    due_known = await _stored(known, ids, lambda i: invoice_external_id(i, "DUE"))
    void_known = await _stored(known, ids, lambda i: invoice_external_id(i, "VOID"))
    # A "generated" hint whose DUE event is stored, or any hint for a voided one (VOID is
    # final), has nothing left to tell.
    wanted = [
        i for i in ids if i not in void_known and not (i in due_known and hint_of[i] in _GENERATED)
    ]

    def due_page(token: str | None) -> Any:
        if token is None:
            return client.list_invoices(status="DUE", page_size=MAX_PAGE_SIZE)
        return client.list_invoices(next_token=token)  # later pages carry the filter

    found, left = await _listed(due_page, wanted, position)
    invoices: list[tuple[str, Invoice]] = []
    for invoice_id in wanted:
        if invoice_id in left:
            continue
        invoice = found.get(invoice_id)
        if invoice is None:
            try:
                invoice = await client.get_invoice(invoice_id)
            except errors.NotFoundError:
                continue
            except errors.UnavailableError:
                left.add(invoice_id)
                continue
        trigger = invoice_trigger(invoice, hint_of[invoice_id] or None)
        # An invoice without an owner account cannot be billed: nothing to sync (the
        # immediate path refuses it the same way), and one such hint must not hold up the rest.
        if trigger is not None and invoice.owner_id:
            invoices.append((trigger, invoice))
    owners = {owner_of(invoice) for _, invoice in invoices}
    owners_known = await _stored(known, sorted(owners), account_external_id)
    accounts: dict[str, dict[str, Any] | Account] = {}
    events: list[IncomingEvent] = []
    for trigger, invoice in invoices:
        owner = owner_of(invoice)
        account = accounts.get(owner)
        if account is None:
            stub = _account_from(invoice) if owner in owners_known else None
            if stub is None:
                try:
                    account = await client.get_account(owner)
                except errors.NotFoundError:
                    continue
                except errors.UnavailableError:
                    left.add(invoice.id)
                    continue
            else:
                account = stub
            accounts[owner] = account
        event = invoice_event(trigger, invoice, _as_account(account), when[invoice.id])
        events.append(event)
    return _done(events, position, left, len(wanted))


def _account_from(invoice: Invoice) -> dict[str, Any] | None:
    """The account as the invoice describes it, when it carries enough to bill in."""
    details = invoice.raw.get("invoiceDetails")
    account = details.get("account") if isinstance(details, dict) else None
    if not isinstance(account, dict) or not account.get("invoiceCurrency"):
        return None
    stub = {k: v for k, v in account.items() if v is not None}
    stub["id"] = owner_of(invoice)
    if invoice.customer_id:
        stub["customerId"] = invoice.customer_id
    return stub


def _as_account(account: dict[str, Any] | Account) -> Account:
    if isinstance(account, Account):
        return account
    return Account.from_json(account)


async def _stored(known: Known, ids: Sequence[str], external_id: Any) -> set[str]:
    by_external = {external_id(i): i for i in ids}
    if not by_external:
        return set()
    found = await known(list(by_external))
    return {by_external[e] for e in found if e in by_external}
