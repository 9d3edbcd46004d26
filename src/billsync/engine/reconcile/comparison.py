"""One comparison of a snapshot: every object judged, customers, invoices, payments."""

from __future__ import annotations

from billsync.engine.reconcile import customers, invoices, payments
from billsync.engine.reconcile.snapshot import Snapshot
from billsync.engine.reconcile.verdict import Scope, Verdict


def judge_all(snap: Snapshot, scope: Scope) -> list[Verdict]:
    """Invoices are judged first (they pair Razorpay invoices, which payments need, and
    name the accounts whose customers are needed); items list customers first."""
    invoice_verdicts, pairs = invoices.judge(snap, scope)
    invoiced = {
        snap.invoices[v.item.togai_id].owner_id or ""
        for v in invoice_verdicts
        if v.item.togai_id in snap.invoices
    }
    customer_verdicts = customers.judge(snap, scope, invoiced)
    payment_verdicts = payments.judge(snap, scope, pairs)
    return customer_verdicts + invoice_verdicts + payment_verdicts
