"""Togai invoices ↔ Razorpay invoices: the link's three records, the amount, the status.

Which Togai invoices are compared: every invoice with a link record (billsync's mapping,
the setting `RazorPayInvoiceId`, or a Razorpay invoice whose notes or receipt name it),
and every DUE or PARTIALLY_PAID invoice with something left to pay (billsync would have
sent it). A DRAFT invoice is still changing and is never sent, so without a link it is not
compared; PAID, VOID, UN_COLLECTIBLE, MERGED and refunded invoices without a link never
needed a Razorpay invoice. With `--since`, invoices dated (invoiceDate, else generatedAt)
from that day, and Razorpay invoices created from then.

Amount: billsync issues the Razorpay invoice for what was still due when it sent it, so the
expected amount is the total less what Togai had recorded from elsewhere (payments whose
reference is not a Razorpay payment), in minor units by exact conversion.
An item shows one state, checked in this order: amount, status, link.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from billsync import money
from billsync.connectors.razorpay import models as rzp
from billsync.connectors.razorpay.reference import natural_key
from billsync.connectors.togai import models as togai
from billsync.domain import IdLink, LinkKind
from billsync.engine.reconcile.model import ItemKind, ItemState
from billsync.engine.reconcile.snapshot import Snapshot
from billsync.engine.reconcile.verdict import (
    INVOICE_GENERATED,
    INVOICE_VOIDED,
    Plan,
    Scope,
    Verdict,
    named,
    note,
    verdict,
)

KIND = ItemKind.INVOICE
COLLECTIBLE = frozenset({"DUE", "PARTIALLY_PAID"})

#: Togai status → the Razorpay statuses that agree with it. Togai: DRAFT, DUE,
#: PARTIALLY_PAID, PAID, VOID, UN_COLLECTIBLE, MERGED, REFUND_INITIATED, REFUND_COMPLETED;
#: Razorpay: draft, issued, partially_paid, paid, cancelled, expired.
AGREE: dict[str, frozenset[str]] = {
    "DUE": frozenset({"issued"}),
    # issued: Togai recorded a part payment from elsewhere before the invoice was sent
    "PARTIALLY_PAID": frozenset({"issued", "partially_paid"}),
    # cancelled/expired: paid outside Razorpay after the Razorpay invoice was closed
    "PAID": frozenset({"paid", "cancelled", "expired"}),
    "VOID": frozenset({"cancelled", "expired"}),
    # written off in Togai; Togai still takes a payment (UN_COLLECTIBLE → PAID)
    "UN_COLLECTIBLE": frozenset({"issued", "partially_paid", "cancelled", "expired"}),
    "MERGED": frozenset({"cancelled", "expired"}),
    "REFUND_INITIATED": frozenset({"paid"}),
    "REFUND_COMPLETED": frozenset({"paid"}),
}


def is_razorpay_reference(number: str, source: str) -> bool:
    return source.lower() == "razorpay" or number.startswith("pay_")


def recorded_from_razorpay(snap: Snapshot) -> dict[str, Decimal]:
    """Per Togai invoice: what its Razorpay-referenced payments put on it."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for payment in snap.togai_payments.values():
        refs = list(payment.external_payment_references)
        if payment.external_payment_reference is not None:
            refs.append(payment.external_payment_reference)
        if not any(is_razorpay_reference(r.transaction_number, r.source_name) for r in refs):
            continue
        for record in payment.line_item_records:
            if record.type == "INVOICE" and record.togai_id:
                totals[record.togai_id] += record.amount or payment.total_amount or Decimal(0)
    return totals


def due(invoice: togai.Invoice) -> Decimal:
    return invoice.total_amount - invoice.paid_amount


def in_window(invoice: togai.Invoice, scope: Scope) -> bool:
    if scope.since is None:
        return True
    when = invoice.invoice_date or invoice.generated_at or invoice.updated_at
    return when is None or when >= scope.since


def currency_of(snap: Snapshot, invoice: togai.Invoice) -> str | None:
    if invoice.currency:
        return invoice.currency.upper()
    owner = snap.accounts.get(invoice.owner_id or "")
    return owner.invoice_currency.upper() if owner and owner.invoice_currency else None


def judge(snap: Snapshot, scope: Scope) -> tuple[list[Verdict], dict[str, str]]:
    """Verdicts, and the established pairs Razorpay invoice → Togai invoice."""
    links = snap.links[LinkKind.INVOICE_INVOICE]
    by_notes: dict[str, list[str]] = defaultdict(list)
    for inv in snap.rzp_invoices.values():
        togai_id = note(inv, "togai_invoice_id")
        if togai_id:
            by_notes[togai_id].append(inv.id)
    receipts = {natural_key(t): t for t in snap.invoices}
    for inv in snap.rzp_invoices.values():
        if not note(inv, "togai_invoice_id") and inv.receipt in receipts:
            by_notes[receipts[inv.receipt]].append(inv.id)
    recorded = recorded_from_razorpay(snap)
    covered: set[str] = set()
    pairs: dict[str, str] = {}
    out: list[Verdict] = []
    for togai_id, invoice in snap.invoices.items():
        ids = named(
            links.by_togai.get(togai_id), snap.invoice_settings.get(togai_id), *by_notes[togai_id]
        )
        covered.update(ids)
        if not scope.wants(togai_id, tuple(ids)):
            continue
        listed = [r for r in ids if r in snap.rzp_invoices]
        if not in_window(invoice, scope) and not listed:
            continue
        if not ids:
            if invoice.status in COLLECTIBLE and due(invoice) > 0:
                out.append(_missing(togai_id, scope, ()))
            continue
        found = _linked(snap, scope, recorded, togai_id, invoice, ids)
        if found.item.razorpay_id and found.item.state is not ItemState.MISSING_IN_RAZORPAY:
            pairs[found.item.razorpay_id] = togai_id
        out.append(found)
    since = int(scope.since.timestamp()) if scope.since is not None else None
    for inv in snap.rzp_invoices.values():
        togai_id = note(inv, "togai_invoice_id") or links.by_razorpay.get(inv.id)
        if inv.id in covered or not togai_id or togai_id in snap.invoices:
            continue
        if since is not None and (inv.created_at or 0) < since:
            continue
        if not scope.wants(togai_id, (inv.id,)):
            continue
        out.append(
            verdict(
                KIND,
                ItemState.ORPHAN,
                togai_id,
                inv.id,
                f"the invoice names Togai invoice {togai_id}, which does not exist",
            )
        )
    return out, pairs


def _missing(togai_id: str, scope: Scope, stale: tuple[IdLink, ...]) -> Verdict:
    detail = "no Razorpay invoice"
    if stale:
        detail = f"billsync's mapping names {stale[0].razorpay_id}, which Razorpay does not have"
    if INVOICE_GENERATED not in scope.flows:
        return verdict(
            KIND,
            ItemState.MISSING_IN_RAZORPAY,
            togai_id,
            None,
            detail + "; no enabled flow creates invoices",
        )
    return verdict(
        KIND,
        ItemState.MISSING_IN_RAZORPAY,
        togai_id,
        None,
        detail,
        Plan(trigger=INVOICE_GENERATED, drop_links=stale),
    )


def _linked(
    snap: Snapshot,
    scope: Scope,
    recorded: dict[str, Decimal],
    togai_id: str,
    invoice: togai.Invoice,
    ids: list[str],
) -> Verdict:
    links = snap.links[LinkKind.INVOICE_INVOICE]
    mapped = links.by_togai.get(togai_id)
    setting = snap.invoice_settings.get(togai_id)
    existing = [r for r in ids if r in snap.rzp_invoices]
    stale = (IdLink(LinkKind.INVOICE_INVOICE, togai_id, mapped),) if mapped else ()
    if not existing:
        if invoice.status in COLLECTIBLE and due(invoice) > 0:
            return _missing(togai_id, scope, stale)
        return verdict(
            KIND,
            ItemState.LINK_MISMATCH,
            togai_id,
            ids[0],
            f"the records name {', '.join(ids)}, which Razorpay does not have "
            f"(the Togai invoice is {invoice.status}: nothing to send)",
        )
    if len(existing) > 1:
        return verdict(
            KIND,
            ItemState.LINK_MISMATCH,
            togai_id,
            existing[0],
            f"the records name different Razorpay invoices: {', '.join(existing)} "
            f"(mapping {mapped or '-'}, setting {setting or '-'}; a human decides)",
        )
    rzp_id = existing[0]
    inv = snap.rzp_invoices[rzp_id]
    write: tuple[IdLink, ...] = ()
    drop: tuple[IdLink, ...] = ()
    owner = links.by_razorpay.get(rzp_id)
    noted = note(inv, "togai_invoice_id")
    if (noted and noted != togai_id) or (owner and owner != togai_id):
        return verdict(
            KIND,
            ItemState.LINK_MISMATCH,
            togai_id,
            rzp_id,
            f"{rzp_id} belongs to Togai invoice {noted if noted != togai_id else owner} "
            "by its notes or billsync's mapping (a human decides)",
        )
    if mapped != rzp_id:
        write = (IdLink(LinkKind.INVOICE_INVOICE, togai_id, rzp_id),)
        drop = stale

    amount = _amount_problem(snap, invoice, inv, recorded.get(togai_id, Decimal(0)))
    if amount:
        return verdict(KIND, ItemState.AMOUNT_MISMATCH, togai_id, rzp_id, amount)
    if inv.status not in AGREE.get(invoice.status, frozenset()):
        detail = f"Togai says {invoice.status}, Razorpay says {inv.status}"
        trigger = None
        if invoice.status == "VOID" and inv.status == "issued":
            trigger = INVOICE_VOIDED if INVOICE_VOIDED in scope.flows else None
            detail += "" if trigger else "; no enabled flow cancels voided invoices"
        elif invoice.status in COLLECTIBLE | {"UN_COLLECTIBLE"} and inv.status in {
            "paid",
            "partially_paid",
        }:
            detail += " (Razorpay payments are missing in Togai: see the payment items)"
        elif inv.status in {"paid", "partially_paid"}:
            detail += " (billsync never refunds: settle it in Razorpay by hand)"
        else:
            detail += " (settle it by hand)"
        plan = Plan(trigger=trigger, write_links=write, drop_links=drop) if trigger else Plan()
        return verdict(KIND, ItemState.STATUS_MISMATCH, togai_id, rzp_id, detail, plan)

    problems: list[str] = []
    if write:
        problems.append(f"billsync's mapping names {mapped or 'nothing'}")
    trigger = None
    if setting != rzp_id:
        problems.append(f"the Togai setting RazorPayInvoiceId is {setting or 'missing'}")
        trigger = INVOICE_GENERATED
    url = snap.invoice_urls.get(togai_id)
    if inv.short_url and url != inv.short_url:
        problems.append(f"the Togai setting RazorPayInvoiceUrl is {url or 'missing'}")
        trigger = INVOICE_GENERATED
    if not problems:
        return verdict(KIND, ItemState.MATCHED, togai_id, rzp_id, "")
    if trigger is not None and trigger not in scope.flows:
        trigger = None
        problems.append("no enabled invoice flow writes the settings")
    return verdict(
        KIND,
        ItemState.LINK_MISMATCH,
        togai_id,
        rzp_id,
        "; ".join(problems),
        Plan(trigger=trigger, write_links=write, drop_links=drop),
    )


def _amount_problem(
    snap: Snapshot, invoice: togai.Invoice, inv: rzp.Invoice, from_razorpay: Decimal
) -> str | None:
    currency = currency_of(snap, invoice)
    if currency and inv.currency and inv.currency.upper() != currency:
        return f"Togai bills in {currency}, Razorpay in {inv.currency.upper()}"
    if not currency or inv.amount is None:
        return None
    sent = invoice.total_amount - (invoice.paid_amount - from_razorpay)
    try:
        expected = money.to_minor(sent, currency, label=f"invoice {invoice.id}")
    except ValueError as exc:
        return str(exc)
    if expected != inv.amount:
        return (
            f"Togai expects {expected} {currency} minor units on Razorpay "
            f"(total {invoice.total_amount}, {invoice.paid_amount - from_razorpay} paid "
            f"elsewhere), Razorpay has {inv.amount}"
        )
    return None
