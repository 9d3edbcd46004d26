"""Razorpay expires invoices and payment links some time after expire_by, on its own.

The sandbox does it lazily: every request first applies the expiries that have come due,
so no background task is needed and a fake clock (config.clock) drives it in tests.
"""

from __future__ import annotations

import heapq

from billsync.sandbox.razorpay import invoice, payment_link
from billsync.sandbox.razorpay.state import State

EXPIRABLE = {"invoice": ("issued", "partially_paid"), "payment_link": ("created",)}


def sweep(state: State) -> None:
    """Expire what is due; cheap when nothing is (one comparison)."""
    queue = state.expiries
    if not queue:
        return
    due_at = state.now() - state.config.expiry_delay_s
    while queue and queue[0][0] <= due_at:
        expire_by, kind, entity_id = heapq.heappop(queue)
        table = state.invoices if kind == "invoice" else state.payment_links
        entity = table.get(entity_id)
        # Skip entries made stale by a payment, a cancel or a new expire_by.
        if entity is None or entity["expire_by"] != expire_by:
            continue
        if entity["status"] not in EXPIRABLE[kind]:
            continue
        if kind == "invoice":
            invoice.expire(state, entity_id)
        else:
            payment_link.expire(state, entity_id)
