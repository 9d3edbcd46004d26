"""A test-only, in-memory stand-in for the engine's Reconciler (engine/reconcile): the
boundary the faces call. It compares nothing: it answers the reports a test gives it,
records what it was asked to fix, and lets a test hold a comparison open to watch it run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime

from billsync import errors
from billsync.engine.reconcile.model import (
    ConnectionPair,
    FixResult,
    Item,
    ItemKind,
    ItemState,
    Report,
)


def sample_items() -> list[Item]:
    """One item per state, plus a second missing customer (7 drift, 1 matched)."""
    return [
        Item(ItemKind.CUSTOMER, ItemState.MATCHED, "acc_1", "cust_1", "both sides agree"),
        Item(
            ItemKind.CUSTOMER,
            ItemState.MISSING_IN_RAZORPAY,
            "acc_2",
            None,
            "no Razorpay customer",
            fix="create the Razorpay customer",
        ),
        Item(
            ItemKind.CUSTOMER,
            ItemState.MISSING_IN_RAZORPAY,
            "acc_3",
            None,
            "no Razorpay customer",
            fix="create the Razorpay customer",
        ),
        Item(
            ItemKind.INVOICE,
            ItemState.STATUS_MISMATCH,
            "inv_t_1",
            "inv_1",
            "Togai VOID, Razorpay issued",
            fix="cancel the Razorpay invoice",
        ),
        Item(ItemKind.INVOICE, ItemState.AMOUNT_MISMATCH, "inv_t_2", "inv_2", "1000 vs 900"),
        Item(
            ItemKind.INVOICE,
            ItemState.LINK_MISMATCH,
            "inv_t_3",
            "inv_3",
            "RazorPayInvoiceId says inv_9",
            fix="rewrite the Togai setting",
        ),
        Item(
            ItemKind.PAYMENT,
            ItemState.MISSING_IN_TOGAI,
            "inv_t_4",
            "pay_1",
            "no Togai payment",
            fix="record the payment in Togai",
        ),
        Item(ItemKind.CUSTOMER, ItemState.ORPHAN, "acc_gone", "cust_9", "notes name acc_gone"),
    ]


class FakeReconciler:
    def __init__(self, pairs: Sequence[ConnectionPair] = ()) -> None:
        self.bound = list(pairs)
        self.items: list[Item] = sample_items()
        self.error: errors.SyncError | None = None
        #: When set, compare() waits for it (a test watches the reconciliation run).
        self.gate: asyncio.Event | None = None
        self.compared: list[tuple[ConnectionPair, datetime | None]] = []
        self.fixed: list[tuple[ConnectionPair, list[Item]]] = []
        self._next_event = 1000

    async def pairs(self) -> list[ConnectionPair]:
        return list(self.bound)

    async def compare(
        self,
        pair: ConnectionPair,
        *,
        since: datetime | None = None,
        progress: Callable[[str, int], None] | None = None,
    ) -> Report:
        self.compared.append((pair, since))
        if progress is not None:
            progress("customers", len(self.items))
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        report = Report(pair=pair, since=since, items=list(self.items))
        report.calls.update({"togai": 3, "razorpay": 2})
        return report

    async def fix(self, pair: ConnectionPair, items: Sequence[Item]) -> list[FixResult]:
        self.fixed.append((pair, list(items)))
        results = []
        for item in items:
            if item.state is ItemState.LINK_MISMATCH:
                results.append(FixResult(item, skipped="no longer drifting"))
                continue
            self._next_event += 1
            results.append(
                FixResult(item, event_id=self._next_event, run_ids=(self._next_event * 10,))
            )
        return results
