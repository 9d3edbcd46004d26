"""What a reconciliation reports: one item per compared object, each in exactly one state.

These types are the contract between the comparison (engine/reconcile), its repairs and
its faces (CLI `billsync reconcile`, REST `/api/v1/reconciliations`, the UI page, the
Prometheus gauge). An item is plain data so it can be stored and fixed later: a fix
re-reads both sides by the item's ids instead of trusting a report that may be stale.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class ItemKind(enum.StrEnum):
    CUSTOMER = "customer"  #: Togai account ↔ Razorpay customer
    INVOICE = "invoice"  #: Togai invoice ↔ Razorpay invoice
    PAYMENT = "payment"  #: Razorpay captured payment on a synced invoice ↔ Togai payment


class ItemState(enum.StrEnum):
    MATCHED = "matched"
    MISSING_IN_RAZORPAY = "missing_in_razorpay"
    MISSING_IN_TOGAI = "missing_in_togai"
    #: a Razorpay object whose notes name a Togai object that does not exist
    ORPHAN = "orphan"
    AMOUNT_MISMATCH = "amount_mismatch"
    STATUS_MISMATCH = "status_mismatch"
    #: billsync's mapping, the Togai setting and the Razorpay notes disagree
    LINK_MISMATCH = "link_mismatch"


#: States in the order reports list them (drift first, matched last).
STATE_ORDER: tuple[ItemState, ...] = (
    ItemState.MISSING_IN_RAZORPAY,
    ItemState.MISSING_IN_TOGAI,
    ItemState.AMOUNT_MISMATCH,
    ItemState.STATUS_MISMATCH,
    ItemState.LINK_MISMATCH,
    ItemState.ORPHAN,
    ItemState.MATCHED,
)


@dataclass(frozen=True)
class ConnectionPair:
    """One Togai connection and one Razorpay connection that flows bind together."""

    togai_id: int
    razorpay_id: int


@dataclass(frozen=True)
class Item:
    """One compared object. `togai_id` is the Togai account or invoice id a user sees (for a
    payment: the Togai invoice it pays); `razorpay_id` the `cust_`/`inv_`/`pay_` id. `fix`
    says in words what `--fix` would do, None when nothing is safe to do (matched, orphan,
    or drift only a human can settle). `fixable` is True exactly when `fix` is set."""

    kind: ItemKind
    state: ItemState
    togai_id: str | None
    razorpay_id: str | None
    detail: str
    fix: str | None = None

    @property
    def fixable(self) -> bool:
        return self.fix is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "state": self.state.value,
            "togai_id": self.togai_id,
            "razorpay_id": self.razorpay_id,
            "detail": self.detail,
            "fix": self.fix,
        }


@dataclass
class Report:
    """Every item of one comparison of one connection pair (matched ones included)."""

    pair: ConnectionPair
    since: datetime | None = None
    items: list[Item] = field(default_factory=list)
    #: provider calls made while comparing, by app ("togai", "razorpay")
    calls: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, int]:
        """Count per state; every state is present (0 when none), in STATE_ORDER."""
        counts = Counter(item.state for item in self.items)
        return {state.value: counts.get(state, 0) for state in STATE_ORDER}

    @property
    def drift(self) -> int:
        """Items not matched (orphans included: they are drift a human must look at)."""
        return sum(1 for item in self.items if item.state is not ItemState.MATCHED)


@dataclass(frozen=True)
class FixResult:
    """What `--fix` did for one item: the event it stored and the runs that event started
    (empty when the item needed no run, e.g. only billsync's own mapping was rewritten), or
    why it did nothing."""

    item: Item
    event_id: int | None = None
    run_ids: tuple[int, ...] = ()
    skipped: str | None = None  #: reason nothing was done (e.g. "no longer drifting")
