"""A fix: re-read one item's objects, judge them again, carry out what is safe.

Provider writes happen only in ordinary runs: the item becomes one event, the same event
the trigger's webhook or poll would have made, stored through `Intake.store` (source
"reconcile") so the enabled flows' runs execute it with history and the actions' usual
exactly-once lookups (mapping first, then the natural key: fail_existing on (email,
contact), the invoice receipt, the Togai payment's transaction number, the deterministic
setting id, the invoice's current status).

External ids: `reconcile:<batch>:<the trigger's own external id>`. The trigger's own id
would collide with the event already in the inbox when one exists (an account created
while its flow was off was stored, ignored, and never ran), and the fix would start
nothing; a fresh batch per `fix` call starts runs every time. A rerun after a crash
therefore starts a second run for an item whose first run may have done part of the work:
that run's lookups find what the first one created, so nothing is created twice, and runs
of one account run one after another (same entity key).

billsync's own mappings are written or dropped here directly when the providers prove
them (a Razorpay object whose notes name the Togai object, a Togai payment carrying the
Razorpay payment id, a mapped object Razorpay says does not exist).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import structlog

from billsync.clock import Clock, SystemClock
from billsync.connectors.razorpay import event as razorpay_event
from billsync.connectors.togai import triggers as togai_triggers
from billsync.domain import IncomingEvent
from billsync.engine.intake import Intake
from billsync.engine.reconcile.comparison import judge_all
from billsync.engine.reconcile.model import ConnectionPair, FixResult, Item, ItemKind, ItemState
from billsync.engine.reconcile.snapshot import Reader, Snapshot
from billsync.engine.reconcile.verdict import (
    ACCOUNT_CREATED,
    INVOICE_PAID,
    INVOICE_PARTIALLY_PAID,
    Plan,
    Scope,
    Verdict,
)
from billsync.store import events, mappings
from billsync.store.database import Database

log = structlog.get_logger(__name__)

SOURCE = "reconcile"
_MAX_EXTERNAL_ID = 255
#: Fix customers first (an invoice run finds the customer's mapping), payments last.
_ORDER = {ItemKind.CUSTOMER: 0, ItemKind.INVOICE: 1, ItemKind.PAYMENT: 2}


#: Provider calls a by-id re-read of one item costs, roughly (an invoice: the invoice, its
#: two settings, its owner and that owner's setting, the owner's payments, the Razorpay
#: invoice and a receipt lookup).
_CALLS_PER_ITEM = 6


def _same(item: Item, candidates: Sequence[Verdict]) -> Verdict | None:
    """The fresh verdict on the item's object: same kind and Togai id, and the same
    Razorpay id when the item named one (a missing object may since have been made)."""
    for candidate in candidates:
        found = candidate.item
        if item.razorpay_id is None or found.razorpay_id in (item.razorpay_id, None):
            return candidate
    return None


class Repair:
    def __init__(
        self,
        db: Database,
        intake: Intake,
        pair: ConnectionPair,
        reader: Reader,
        flows: frozenset[str],
        *,
        clock: Clock | None = None,
    ) -> None:
        self._db = db
        self._intake = intake
        self._pair = pair
        self._reader = reader
        self._flows = flows
        self._clock = clock or SystemClock()
        self._batch = uuid.uuid4().hex[:12]

    async def run(
        self,
        items: Sequence[Item],
        *,
        full_read_calls: int | None = None,
        since: datetime | None = None,
    ) -> list[FixResult]:
        """Fix `items`. The re-read is by id, a few GETs an item; when that would cost more
        than reading everything again (`full_read_calls`: the last comparison's cost, over
        the window from `since`), one such read through the list endpoints serves every
        item instead."""
        ordered = sorted(range(len(items)), key=lambda i: _ORDER[items[i].kind])
        bulk: tuple[Snapshot, dict[tuple[ItemKind, str | None], list[Verdict]]] | None = None
        wanted = [i for i in items if i.state not in (ItemState.ORPHAN, ItemState.MATCHED)]
        if full_read_calls is not None and len(wanted) * _CALLS_PER_ITEM > full_read_calls:
            bulk = await self._reread_all(wanted, since)
        results: dict[int, FixResult] = {}
        for index in ordered:
            results[index] = await self.one(items[index], bulk)
        return [results[i] for i in range(len(items))]

    async def _reread_all(
        self, items: Sequence[Item], since: datetime | None
    ) -> tuple[Snapshot, dict[tuple[ItemKind, str | None], list[Verdict]]]:
        snap = await self._reader.full(self._db, since)
        scope = Scope(
            since=since,
            flows=self._flows,
            togai_ids=frozenset(i.togai_id for i in items if i.togai_id),
            razorpay_ids=frozenset(i.razorpay_id for i in items if i.razorpay_id),
        )
        index: dict[tuple[ItemKind, str | None], list[Verdict]] = {}
        for verdict in judge_all(snap, scope):
            index.setdefault((verdict.item.kind, verdict.item.togai_id), []).append(verdict)
        return snap, index

    async def one(
        self,
        item: Item,
        bulk: tuple[Snapshot, dict[tuple[ItemKind, str | None], list[Verdict]]] | None = None,
    ) -> FixResult:
        if item.state is ItemState.ORPHAN:
            return FixResult(item, skipped="an orphan is reported only")
        if item.state is ItemState.MATCHED:
            return FixResult(item, skipped="matched")
        if bulk is not None:
            snap = bulk[0]
            fresh = _same(item, bulk[1].get((item.kind, item.togai_id), []))
        else:
            fresh, snap = await self._rejudge(item)
        if fresh is None or fresh.item.state is ItemState.MATCHED:
            return FixResult(item, skipped="no longer drifting")
        if fresh.item.state is ItemState.ORPHAN:
            return FixResult(item, skipped="now an orphan: reported only")
        if fresh.plan.empty:
            return FixResult(item, skipped=f"nothing safe to do: {fresh.item.detail}")
        return await self._carry_out(fresh, snap)

    async def _rejudge(self, item: Item) -> tuple[Verdict | None, Snapshot]:
        togai_ids = {item.togai_id} if item.togai_id else set()
        razorpay_ids = {item.razorpay_id} if item.razorpay_id else set()
        snap = await self._reader.narrow(self._db, item.kind.value, item.togai_id, item.razorpay_id)
        scope = Scope(
            flows=self._flows,
            togai_ids=frozenset(togai_ids),
            razorpay_ids=frozenset(razorpay_ids),
        )
        candidates = [
            v
            for v in judge_all(snap, scope)
            if v.item.kind is item.kind and v.item.togai_id == item.togai_id
        ]
        return _same(item, candidates), snap

    async def _carry_out(self, fresh: Verdict, snap: Snapshot) -> FixResult:
        plan = fresh.plan
        if plan.drop_links or plan.write_links:
            refused = await self._links(plan)
            if refused:
                return FixResult(fresh.item, skipped=refused)
        if plan.trigger is None:
            return FixResult(fresh.item)
        event, connection_id = self._event(fresh.item, plan, snap)
        if event is None:
            return FixResult(fresh.item, skipped="the objects to build the event are gone")
        result = await self._intake.store(connection_id, [event], source=SOURCE)
        async with self._db.read() as session:
            row = await events.by_external_id(session, connection_id, event.external_id)
        event_id = row.id if row is not None else None
        if not result.run_ids:
            return FixResult(
                fresh.item, event_id=event_id, skipped="no enabled flow took the event"
            )
        log.info(
            "reconciliation fix started runs",
            kind=fresh.item.kind.value,
            togai_id=fresh.item.togai_id,
            razorpay_id=fresh.item.razorpay_id,
            runs=result.run_ids,
        )
        return FixResult(fresh.item, event_id=event_id, run_ids=tuple(result.run_ids))

    async def _links(self, plan: Plan) -> str | None:
        """Drop then write billsync's mappings in one transaction; why not, if refused."""
        async with self._db.write() as session:
            for link in plan.drop_links:
                await mappings.delete_link(session, link)
            for link in plan.write_links:
                if not await mappings.insert_new(session, link, run_id=None, now=self._clock.now()):
                    rows = await mappings.touching(session, link)
                    if not any(
                        r.togai_id == link.togai_id and r.razorpay_id == link.razorpay_id
                        for r in rows
                    ):
                        return (
                            f"billsync's mapping {link.togai_id} ↔ {link.razorpay_id} "
                            "contradicts another mapping (a human decides)"
                        )
        return None

    def _event(self, item: Item, plan: Plan, snap: Snapshot) -> tuple[IncomingEvent | None, int]:
        trigger = plan.trigger
        if trigger == ACCOUNT_CREATED:
            account = snap.accounts.get(item.togai_id or "")
            if account is None:
                return None, self._pair.togai_id
            return self._keyed(togai_triggers.account_event(account)), self._pair.togai_id
        if trigger in (INVOICE_PAID, INVOICE_PARTIALLY_PAID):
            return self._payment_event(trigger, item, snap), self._pair.razorpay_id
        invoice = snap.invoices.get(item.togai_id or "")
        owner = snap.accounts.get(invoice.owner_id or "") if invoice is not None else None
        if invoice is None or owner is None or trigger is None:
            return None, self._pair.togai_id
        event = togai_triggers.invoice_event(trigger, invoice, owner)
        return self._keyed(event), self._pair.togai_id

    def _payment_event(self, trigger: str, item: Item, snap: Snapshot) -> IncomingEvent | None:
        payment = snap.rzp_payments.get(item.razorpay_id or "")
        invoice = snap.rzp_invoices.get(payment.invoice_id or "") if payment else None
        if payment is None or invoice is None:
            return None
        # the connector's own rebuild: same payload shape and entity key as the webhook
        return self._keyed(razorpay_event.payment_event(trigger, payment, invoice=invoice))

    def _keyed(self, event: IncomingEvent) -> IncomingEvent:
        key = f"{SOURCE}:{self._batch}:{event.external_id}"
        if len(key) > _MAX_EXTERNAL_ID:
            key = f"{SOURCE}:{self._batch}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
        return replace(event, external_id=key)
