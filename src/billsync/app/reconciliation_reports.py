"""Stored reconciliations as the faces read them: one, the newest (per pair), the list,
a page of items; and the errors the reconciliation operations answer with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from billsync import errors
from billsync.engine.reconcile.model import ItemKind, ItemState
from billsync.store import connections
from billsync.store import reconciliations as store
from billsync.store.database import Database
from billsync.store.models import Reconciliation, ReconciliationItem
from billsync.store.reconciliations import ReconciliationStatus

MAX_PAGE = 500


class ReconciliationNotFoundError(errors.SyncError):
    """No reconciliation has that id."""


class ReconciliationStateError(errors.SyncError):
    """The reconciliation is not in a state that allows this operation."""


class ReconciliationInputError(errors.SyncError):
    """The request names something that cannot be reconciled or fixed."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(problems[0][1])
        #: Every (field, message) found, answered at once (422).
        self.problems = problems


class ReconciliationConflictError(ReconciliationInputError):
    """Well-formed input that does not fit what is stored: a connection id of the other app
    or of none, an item of another reconciliation or without a safe fix, no pair to
    reconcile (409: the same request can succeed once the state changes)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(problems)
        self.args = ("; ".join(f"{field}: {message}" for field, message in problems),)


@dataclass(frozen=True)
class ItemPage:
    items: list[ReconciliationItem]
    #: Pass as `after_id` for the next page; None on the last one.
    next_after: int | None


class ReconciliationReports:
    """Reads of stored reconciliations and their items."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def connection_names(self) -> dict[int, str]:
        """Connection id → the name users gave it."""
        async with self._db.read() as session:
            return {row.id: row.name for row in await connections.list_all(session)}

    async def get(self, reconciliation_id: int) -> Reconciliation:
        async with self._db.read() as session:
            row = await store.get(session, reconciliation_id)
        if row is None:
            raise ReconciliationNotFoundError(f"no reconciliation {reconciliation_id}")
        return row

    async def list_recent(
        self,
        *,
        togai_connection_id: int | None = None,
        razorpay_connection_id: int | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[Reconciliation]:
        async with self._db.read() as session:
            rows = await store.list_recent(
                session,
                limit=max(1, min(limit, MAX_PAGE)),
                before_id=before_id,
                togai_connection_id=togai_connection_id,
                razorpay_connection_id=razorpay_connection_id,
            )
        return list(rows)

    async def latest(
        self, *, togai_connection_id: int | None = None, razorpay_connection_id: int | None = None
    ) -> Reconciliation:
        found = await self.list_recent(
            togai_connection_id=togai_connection_id,
            razorpay_connection_id=razorpay_connection_id,
            limit=1,
        )
        if not found:
            raise ReconciliationNotFoundError("no reconciliation yet")
        return found[0]

    async def latest_per_pair(self, *, finished: bool = False) -> list[Reconciliation]:
        """The newest reconciliation of each pair (`finished`: the newest that succeeded)."""
        status = ReconciliationStatus.SUCCEEDED if finished else None
        async with self._db.read() as session:
            return list(await store.latest_per_pair(session, status=status))

    async def items(
        self,
        reconciliation_id: int,
        *,
        states: Sequence[ItemState] = (),
        kinds: Sequence[ItemKind] = (),
        after_id: int | None = None,
        limit: int = 100,
    ) -> ItemPage:
        limit = max(1, min(limit, MAX_PAGE))
        async with self._db.read() as session:
            rows = list(
                await store.items(
                    session,
                    reconciliation_id,
                    states=[s.value for s in states],
                    kinds=[k.value for k in kinds],
                    after_id=after_id,
                    limit=limit + 1,
                )
            )
        more = len(rows) > limit
        rows = rows[:limit]
        return ItemPage(rows, rows[-1].id if more else None)

    async def items_by_id(
        self, reconciliation_id: int, item_ids: Sequence[int]
    ) -> list[ReconciliationItem]:
        """This reconciliation's items among `item_ids`, in that order (others left out)."""
        async with self._db.read() as session:
            found = await store.items_by_id(session, reconciliation_id, list(set(item_ids)))
        return [found[i] for i in dict.fromkeys(item_ids) if i in found]
