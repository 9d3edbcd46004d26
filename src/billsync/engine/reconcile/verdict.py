"""A verdict on one compared object: its report item and the repair a fix would make.

The judges (customers.py, invoices.py, payments.py) return verdicts; a comparison keeps
their items, a fix re-judges the item's objects as they are now and carries out the plan.
A plan is what is safe: fire one flow trigger (an ordinary run does the provider writes,
with the actions' mapping and natural-key lookups), and write or drop billsync's own
mappings where the providers prove them. Never a delete, a refund, or an orphan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from billsync.domain import IdLink
from billsync.engine.reconcile.model import Item, ItemKind, ItemState

ACCOUNT_CREATED = "account.created"
INVOICE_GENERATED = "invoice.generated"
INVOICE_VOIDED = "invoice.voided"
INVOICE_PAID = "invoice.paid"
INVOICE_PARTIALLY_PAID = "invoice.partially_paid"


@dataclass(frozen=True)
class Plan:
    """What `fix` does for one item. `trigger` is fired on the Togai connection, except
    the payment triggers, which are fired on the Razorpay connection."""

    trigger: str | None = None
    write_links: tuple[IdLink, ...] = ()
    drop_links: tuple[IdLink, ...] = ()

    @property
    def empty(self) -> bool:
        return self.trigger is None and not self.write_links and not self.drop_links


@dataclass(frozen=True)
class Verdict:
    item: Item
    plan: Plan = field(default_factory=Plan)


@dataclass(frozen=True)
class Scope:
    """Which objects a comparison reports.

    `since` limits it to objects made from that time (Togai invoices by invoice date or
    generation time, Razorpay objects by created_at, accounts through those). `flows`
    are the triggers enabled flows of the pair listen to (a fix needs one); `togai_ids`
    and `razorpay_ids`, when set, limit it to one item's objects (a fix)."""

    since: datetime | None = None
    flows: frozenset[str] = frozenset()
    togai_ids: frozenset[str] | None = None
    razorpay_ids: frozenset[str] | None = None

    def wants(self, togai_id: str | None, razorpay_ids: tuple[str | None, ...] = ()) -> bool:
        if self.togai_ids is None and self.razorpay_ids is None:
            return True
        if togai_id is not None and self.togai_ids and togai_id in self.togai_ids:
            return True
        return bool(self.razorpay_ids and any(r in self.razorpay_ids for r in razorpay_ids if r))


def verdict(
    kind: ItemKind,
    state: ItemState,
    togai_id: str | None,
    razorpay_id: str | None,
    detail: str,
    plan: Plan | None = None,
    fix: str | None = None,
) -> Verdict:
    """An item whose `fix` text says what the plan does (None when there is nothing)."""
    plan = plan or Plan()
    if fix is None and not plan.empty:
        fix = describe(plan)
    if plan.empty and fix is not None:
        fix = None
    item = Item(
        kind=kind, state=state, togai_id=togai_id, razorpay_id=razorpay_id, detail=detail, fix=fix
    )
    return Verdict(item, plan if fix is not None else Plan())


_TRIGGER_WORDS = {
    ACCOUNT_CREATED: "run the account flow (creates or finds the Razorpay customer, "
    "writes RazorPayCustomerId)",
    INVOICE_GENERATED: "run the invoice flow (creates or finds the Razorpay invoice, "
    "writes RazorPayInvoiceId/RazorPayInvoiceUrl)",
    INVOICE_VOIDED: "run the void flow (cancels the Razorpay invoice)",
    INVOICE_PAID: "run the payment flow (records the payment in Togai)",
    INVOICE_PARTIALLY_PAID: "run the payment flow (records the payment in Togai)",
}


def describe(plan: Plan) -> str:
    parts = [
        f"drop billsync's stale mapping {link.togai_id} ↔ {link.razorpay_id}"
        for link in plan.drop_links
    ]
    parts += [
        f"write billsync's mapping {link.togai_id} ↔ {link.razorpay_id}"
        for link in plan.write_links
    ]
    if plan.trigger is not None:
        parts.append(_TRIGGER_WORDS.get(plan.trigger, f"run the {plan.trigger} flow"))
    return "; ".join(parts)


def named(*values: str | None) -> list[str]:
    """The distinct non-empty ids, in order."""
    seen: list[str] = []
    for value in values:
        if value and value not in seen:
            seen.append(value)
    return seen


def note(obj: object, key: str) -> str | None:
    notes = getattr(obj, "notes", None)
    value = notes.get(key) if isinstance(notes, dict) else None
    return value if isinstance(value, str) and value else None
