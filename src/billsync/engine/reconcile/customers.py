"""Togai accounts ↔ Razorpay customers, and the three records of each link.

An account's link is recorded three times: billsync's mapping, the Togai setting
`RazorPayCustomerId`, and the Razorpay customer's notes (`togai_account_id`). Notes that
name no account are fine (a customer adopted on (email, contact) by `fail_existing: "0"`
keeps the notes it had); notes naming another account are a conflict.

Which accounts are compared: every account that has a link record; and every active
account without one when an enabled flow creates customers for new accounts, or when it
owns an invoice that needs a Razorpay invoice (its run creates the customer). With
`--since`, only accounts owning an invoice in the window or whose customer was made in it.
"""

from __future__ import annotations

from collections import defaultdict

from billsync.domain import IdLink, LinkKind
from billsync.engine.reconcile.model import ItemKind, ItemState
from billsync.engine.reconcile.snapshot import Snapshot
from billsync.engine.reconcile.verdict import (
    ACCOUNT_CREATED,
    INVOICE_GENERATED,
    Plan,
    Scope,
    Verdict,
    named,
    note,
    verdict,
)

KIND = ItemKind.CUSTOMER
_INACTIVE = frozenset({"ARCHIVED", "DRAFT"})


def judge(snap: Snapshot, scope: Scope, invoiced: set[str]) -> list[Verdict]:
    """`invoiced`: accounts owning an in-scope invoice that needs a Razorpay invoice."""
    links = snap.links[LinkKind.ACCOUNT_CUSTOMER]
    by_notes: dict[str, list[str]] = defaultdict(list)
    for customer in snap.customers.values():
        account_id = note(customer, "togai_account_id")
        if account_id:
            by_notes[account_id].append(customer.id)
    since = int(scope.since.timestamp()) if scope.since is not None else None
    covered: set[str] = set()
    out: list[Verdict] = []
    for account_id, account in snap.accounts.items():
        ids = named(
            links.by_togai.get(account_id),
            snap.customer_settings.get(account_id),
            *by_notes.get(account_id, ()),
        )
        covered.update(ids)
        if not scope.wants(account_id, tuple(ids)):
            continue
        if since is not None and account_id not in invoiced:
            made = [snap.customers[c].created_at or 0 for c in ids if c in snap.customers]
            if not any(t >= since for t in made):
                continue
        if not ids:
            needed = account_id in invoiced or (
                ACCOUNT_CREATED in scope.flows
                and since is None
                and (account.status or "ACTIVE") not in _INACTIVE
            )
            if needed:
                out.append(_missing(account_id, scope, invoiced, stale=()))
            continue
        out.append(_linked(snap, scope, invoiced, account_id, ids))
    for customer in snap.customers.values():
        account_id = note(customer, "togai_account_id") or links.by_razorpay.get(customer.id)
        if customer.id in covered or not account_id or account_id in snap.accounts:
            continue
        if not snap.complete and not scope.wants(account_id, (customer.id,)):
            continue
        if since is not None and (customer.created_at or 0) < since:
            continue
        if not scope.wants(account_id, (customer.id,)):
            continue
        out.append(
            verdict(
                KIND,
                ItemState.ORPHAN,
                account_id,
                customer.id,
                f"the customer names Togai account {account_id}, which does not exist",
            )
        )
    return out


def _missing(
    account_id: str, scope: Scope, invoiced: set[str], stale: tuple[IdLink, ...]
) -> Verdict:
    detail = "no Razorpay customer"
    if stale:
        detail = f"billsync's mapping names {stale[0].razorpay_id}, which Razorpay does not have"
    if ACCOUNT_CREATED in scope.flows:
        return verdict(
            KIND,
            ItemState.MISSING_IN_RAZORPAY,
            account_id,
            None,
            detail,
            Plan(trigger=ACCOUNT_CREATED, drop_links=stale),
        )
    if account_id in invoiced and INVOICE_GENERATED in scope.flows:
        return verdict(
            KIND,
            ItemState.MISSING_IN_RAZORPAY,
            account_id,
            None,
            detail + " (the run of its invoice creates it)",
            Plan(drop_links=stale),
        )
    return verdict(
        KIND,
        ItemState.MISSING_IN_RAZORPAY,
        account_id,
        None,
        detail + "; no enabled flow creates customers",
    )


def _linked(
    snap: Snapshot, scope: Scope, invoiced: set[str], account_id: str, ids: list[str]
) -> Verdict:
    links = snap.links[LinkKind.ACCOUNT_CUSTOMER]
    mapped = links.by_togai.get(account_id)
    setting = snap.customer_settings.get(account_id)
    existing = [c for c in ids if c in snap.customers]
    if not existing:
        stale = (IdLink(LinkKind.ACCOUNT_CUSTOMER, account_id, mapped),) if mapped else ()
        return _missing(account_id, scope, invoiced, stale)
    if len(existing) > 1:
        return verdict(
            KIND,
            ItemState.LINK_MISMATCH,
            account_id,
            existing[0],
            "the records name different customers: "
            + _records(mapped, setting, snap, account_id)
            + " (a human decides which is right)",
        )
    customer_id = existing[0]
    customer = snap.customers[customer_id]
    problems: list[str] = []
    noted = note(customer, "togai_account_id")
    owner = links.by_razorpay.get(customer_id)
    if (noted and noted != account_id) or (owner and owner != account_id):
        return verdict(
            KIND,
            ItemState.LINK_MISMATCH,
            account_id,
            customer_id,
            f"{customer_id} belongs to account {noted if noted != account_id else owner} "
            "by its notes or billsync's mapping (a human decides)",
        )
    write: tuple[IdLink, ...] = ()
    drop: tuple[IdLink, ...] = ()
    if mapped != customer_id:
        problems.append(f"billsync's mapping names {mapped or 'nothing'}")
        write = (IdLink(LinkKind.ACCOUNT_CUSTOMER, account_id, customer_id),)
        if mapped:
            drop = (IdLink(LinkKind.ACCOUNT_CUSTOMER, account_id, mapped),)
    trigger = None
    if setting != customer_id:
        problems.append(f"the Togai setting RazorPayCustomerId is {setting or 'missing'}")
        trigger = ACCOUNT_CREATED if ACCOUNT_CREATED in scope.flows else None
    if not problems:
        return verdict(KIND, ItemState.MATCHED, account_id, customer_id, "")
    return verdict(
        KIND,
        ItemState.LINK_MISMATCH,
        account_id,
        customer_id,
        "; ".join(problems),
        Plan(trigger=trigger, write_links=write, drop_links=drop),
    )


def _records(mapped: str | None, setting: str | None, snap: Snapshot, account_id: str) -> str:
    noted = [c.id for c in snap.customers.values() if note(c, "togai_account_id") == account_id]
    return f"mapping {mapped or '-'}, setting {setting or '-'}, notes {', '.join(noted) or '-'}"
