"""Fixing selected items of a stored reconciliation: the engine's Reconciler.fix re-reads
both sides and repairs through ordinary runs (one event per item); this records on each
item the event and runs its fix started, or why nothing was done, and audits the fix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from billsync.app.reconciler import Reconciler
from billsync.app.reconciliation_reports import (
    ReconciliationConflictError,
    ReconciliationInputError,
    ReconciliationReports,
    ReconciliationStateError,
)
from billsync.clock import Clock
from billsync.engine.reconcile.model import ConnectionPair, FixResult, Item, ItemKind, ItemState
from billsync.store import audit
from billsync.store import reconciliations as store
from billsync.store.database import Database
from billsync.store.models import Reconciliation, ReconciliationItem
from billsync.store.reconciliations import ReconciliationStatus

log = structlog.get_logger(__name__)

#: Items one fix request may name (each is re-read at both providers before its event).
MAX_FIX = 200


@dataclass(frozen=True)
class FixOutcome:
    item_id: int
    event_id: int | None
    run_ids: tuple[int, ...]
    skipped: str | None


def pair_of(row: Reconciliation) -> ConnectionPair:
    return ConnectionPair(row.togai_connection_id, row.razorpay_connection_id)


def _item(row: ReconciliationItem) -> Item:
    return Item(
        kind=ItemKind(row.kind),
        state=ItemState(row.state),
        togai_id=row.togai_id,
        razorpay_id=row.razorpay_id,
        detail=row.detail,
        fix=row.fix,
    )


async def fix_items(
    reports: ReconciliationReports,
    reconciler: Reconciler,
    db: Database,
    clock: Clock,
    reconciliation_id: int,
    item_ids: Sequence[int],
    *,
    actor: str,
) -> list[FixOutcome]:
    """Repair the selected items of a succeeded reconciliation; each item's outcome."""
    row = await reports.get(reconciliation_id)
    if row.status != ReconciliationStatus.SUCCEEDED.value:
        raise ReconciliationStateError(
            f"reconciliation {reconciliation_id} is {row.status}; only a succeeded "
            "reconciliation's items can be fixed"
        )
    if not item_ids:
        raise ReconciliationInputError([("item_ids", "select at least one item")])
    if len(item_ids) > MAX_FIX:
        raise ReconciliationInputError([("item_ids", f"at most {MAX_FIX} items per request")])
    async with db.read() as session:
        found = await store.items_by_id(session, reconciliation_id, list(set(item_ids)))
    problems = []
    for index, item_id in enumerate(item_ids):
        stored = found.get(item_id)
        if stored is None:
            message = f"reconciliation {reconciliation_id} has no item {item_id}"
            problems.append((f"item_ids[{index}]", message))
        elif stored.fix is None:
            message = f"item {item_id} ({stored.state}) has no safe fix"
            problems.append((f"item_ids[{index}]", message))
    if problems:
        raise ReconciliationConflictError(problems)
    ordered = list(dict.fromkeys(item_ids))
    wanted = [_item(found[i]) for i in ordered]
    results = await reconciler.fix(pair_of(row), wanted)
    outcomes = _match(ordered, wanted, results)
    now = clock.now()
    async with db.write() as session:
        for outcome in outcomes:
            await store.record_fix(
                session,
                outcome.item_id,
                event_id=outcome.event_id,
                run_ids=outcome.run_ids,
                skipped=outcome.skipped,
                now=now,
            )
        await audit.record(
            session,
            actor=actor,
            action="reconciliation.fix",
            target=f"reconciliation:{reconciliation_id}",
            now=now,
            detail={
                "items": [o.item_id for o in outcomes],
                "events": [o.event_id for o in outcomes if o.event_id is not None],
            },
        )
    return outcomes


def _match(item_ids: list[int], items: list[Item], results: list[FixResult]) -> list[FixOutcome]:
    """Each result to the stored item it is about (by the item it carries; equal items are
    matched in order). An item the reconciler said nothing about is reported as skipped."""
    waiting: dict[Item, list[int]] = {}
    for item_id, item in zip(item_ids, items, strict=True):
        waiting.setdefault(item, []).append(item_id)
    outcomes = []
    for result in results:
        ids = waiting.get(result.item)
        if not ids:
            log.warning("a fix result names an item that was not asked for")
            continue
        outcomes.append(
            FixOutcome(ids.pop(0), result.event_id, tuple(result.run_ids), result.skipped)
        )
    for ids in waiting.values():
        for item_id in ids:
            outcomes.append(FixOutcome(item_id, None, (), "the reconciler reported nothing"))
    order = {item_id: n for n, item_id in enumerate(item_ids)}
    return sorted(outcomes, key=lambda o: order[o.item_id])
