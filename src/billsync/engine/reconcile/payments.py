"""Razorpay captured payments on synced invoices ↔ Togai payments.

A payment is compared when its Razorpay invoice is paired with a Togai invoice (see
invoices.py). Its Togai counterpart is the Togai payment whose external reference carries
the Razorpay payment id as transaction number (what `record_payment` writes); the amounts
must agree in minor units and billsync's payment mapping must name it. The other way, a
Togai payment that references a Razorpay payment absent from the paired Razorpay invoice's
payments is reported missing in Razorpay (nothing to fix: billsync never creates money).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from billsync import money
from billsync.connectors.razorpay import event as razorpay_event
from billsync.connectors.razorpay import models as rzp
from billsync.connectors.togai import models as togai
from billsync.domain import IdLink, LinkKind
from billsync.engine.reconcile.invoices import is_razorpay_reference
from billsync.engine.reconcile.model import ItemKind, ItemState
from billsync.engine.reconcile.snapshot import Snapshot
from billsync.engine.reconcile.verdict import (
    INVOICE_PAID,
    INVOICE_PARTIALLY_PAID,
    Plan,
    Scope,
    Verdict,
    verdict,
)

KIND = ItemKind.PAYMENT


def captured(payment: rzp.Payment) -> bool:
    return bool(payment.captured) or payment.status in ("captured", "refunded")


def payment_trigger(
    payment: rzp.Payment,
    invoice: rzp.Invoice,
    flows: frozenset[str],
    invoice_payments: list[rzp.Payment],
) -> str | None:
    """The trigger Razorpay's webhook for this payment fired, if an enabled flow listens to
    it, else the other payment trigger (both flows record the payment the same way)."""
    preferred = razorpay_event.invoice_payment_type(payment, invoice, invoice_payments)
    for trigger in (preferred, INVOICE_PAID, INVOICE_PARTIALLY_PAID):
        if trigger in flows:
            return trigger
    return None


def judge(snap: Snapshot, scope: Scope, pairs: dict[str, str]) -> list[Verdict]:
    """`pairs`: Razorpay invoice id → Togai invoice id, as the invoice judge paired them."""
    by_number: dict[str, list[togai.Payment]] = defaultdict(list)
    for recorded in snap.togai_payments.values():
        for number in recorded.transaction_numbers():
            by_number[number].append(recorded)
    by_invoice: dict[str, list[rzp.Payment]] = defaultdict(list)
    for payment in snap.rzp_payments.values():
        if payment.invoice_id and captured(payment):
            by_invoice[payment.invoice_id].append(payment)
    out: list[Verdict] = []
    seen_numbers: set[str] = set()
    for payment in snap.rzp_payments.values():
        togai_invoice = pairs.get(payment.invoice_id or "")
        if togai_invoice is None or not captured(payment):
            continue
        seen_numbers.add(payment.id)
        if not scope.wants(togai_invoice, (payment.id, payment.invoice_id)):
            continue
        out.append(_one(snap, scope, payment, togai_invoice, by_number[payment.id], by_invoice))
    paired_togai = {t: r for r, t in pairs.items()}
    for tpayment in snap.togai_payments.values():
        for record in tpayment.line_item_records:
            rzp_invoice = paired_togai.get(record.togai_id or "")
            if record.type != "INVOICE" or rzp_invoice is None:
                continue
            for ref in _refs(tpayment):
                number = ref.transaction_number
                if not is_razorpay_reference(number, ref.source_name) or number in seen_numbers:
                    continue
                if not snap.complete and number in snap.rzp_payments:
                    continue
                if not scope.wants(record.togai_id, (number, rzp_invoice)):
                    continue
                seen_numbers.add(number)
                out.append(
                    verdict(
                        KIND,
                        ItemState.MISSING_IN_RAZORPAY,
                        record.togai_id,
                        number,
                        f"Togai payment {tpayment.id} references {number}, which is not a "
                        f"captured payment of {rzp_invoice}",
                    )
                )
    return out


def _refs(payment: togai.Payment) -> list[togai.ExternalPaymentReference]:
    refs = list(payment.external_payment_references)
    if payment.external_payment_reference is not None:
        refs.append(payment.external_payment_reference)
    return refs


def _one(
    snap: Snapshot,
    scope: Scope,
    payment: rzp.Payment,
    togai_invoice: str,
    found: list[togai.Payment],
    by_invoice: dict[str, list[rzp.Payment]],
) -> Verdict:
    mapping = snap.links[LinkKind.PAYMENT_PAYMENT]
    mapped = mapping.by_razorpay.get(payment.id)
    stale = (
        (IdLink(LinkKind.PAYMENT_PAYMENT, mapped, payment.id),)
        if mapped and mapped not in snap.togai_payments
        else ()
    )
    if not found:
        invoice = snap.rzp_invoices.get(payment.invoice_id or "")
        siblings = by_invoice.get(payment.invoice_id or "", [])
        trigger = payment_trigger(payment, invoice, scope.flows, siblings) if invoice else None
        detail = f"no Togai payment records {payment.id} on {togai_invoice}"
        if mapped and not stale:
            detail += f" (billsync's mapping names Togai payment {mapped})"
        if trigger is None:
            detail += "; no enabled flow records Razorpay payments"
            return verdict(KIND, ItemState.MISSING_IN_TOGAI, togai_invoice, payment.id, detail)
        if mapped and not stale:
            # record_payment would trust the mapping: only a human can say it is wrong
            return verdict(KIND, ItemState.MISSING_IN_TOGAI, togai_invoice, payment.id, detail)
        return verdict(
            KIND,
            ItemState.MISSING_IN_TOGAI,
            togai_invoice,
            payment.id,
            detail,
            Plan(trigger=trigger, drop_links=stale),
        )
    if len(found) > 1:
        ids = ", ".join(p.id for p in found)
        return verdict(
            KIND,
            ItemState.LINK_MISMATCH,
            togai_invoice,
            payment.id,
            f"several Togai payments record {payment.id}: {ids} (a human decides)",
        )
    tpayment = found[0]
    on = {r.togai_id for r in tpayment.line_item_records if r.type == "INVOICE"}
    amount = _amount(tpayment, togai_invoice)
    currency = (tpayment.currency or payment.currency).upper()
    if currency != payment.currency.upper():
        return verdict(
            KIND,
            ItemState.AMOUNT_MISMATCH,
            togai_invoice,
            payment.id,
            f"Togai recorded it in {currency}, Razorpay in {payment.currency.upper()}",
        )
    try:
        minor = money.to_minor(amount, currency, label=f"Togai payment {tpayment.id}")
    except ValueError as exc:
        return verdict(KIND, ItemState.AMOUNT_MISMATCH, togai_invoice, payment.id, str(exc))
    if minor != payment.amount:
        return verdict(
            KIND,
            ItemState.AMOUNT_MISMATCH,
            togai_invoice,
            payment.id,
            f"Togai payment {tpayment.id} records {minor} minor units, Razorpay captured "
            f"{payment.amount}",
        )
    if on and togai_invoice not in on:
        return verdict(
            KIND,
            ItemState.LINK_MISMATCH,
            togai_invoice,
            payment.id,
            f"Togai payment {tpayment.id} pays {', '.join(sorted(str(i) for i in on))}, "
            f"not {togai_invoice} (a human decides)",
        )
    if mapped == tpayment.id:
        return verdict(KIND, ItemState.MATCHED, togai_invoice, payment.id, "")
    owner = mapping.by_togai.get(tpayment.id)
    if owner and owner != payment.id:
        return verdict(
            KIND,
            ItemState.LINK_MISMATCH,
            togai_invoice,
            payment.id,
            f"billsync maps Togai payment {tpayment.id} to {owner} (a human decides)",
        )
    drop = (IdLink(LinkKind.PAYMENT_PAYMENT, mapped, payment.id),) if mapped else ()
    return verdict(
        KIND,
        ItemState.LINK_MISMATCH,
        togai_invoice,
        payment.id,
        f"billsync's mapping names {mapped or 'nothing'}; Togai payment {tpayment.id} records it",
        Plan(
            write_links=(IdLink(LinkKind.PAYMENT_PAYMENT, tpayment.id, payment.id),),
            drop_links=drop,
        ),
    )


def _amount(payment: togai.Payment, invoice_id: str) -> Decimal:
    for record in payment.line_item_records:
        if record.type == "INVOICE" and record.togai_id == invoice_id and record.amount is not None:
            return record.amount
    return payment.total_amount or Decimal(0)
