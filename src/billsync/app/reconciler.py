"""The Reconciler port: the engine's comparison and repair (engine/reconcile), as the
reconciliation operations use it. The composition root passes the engine's Reconciler;
tests may pass an in-memory one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from billsync.engine.reconcile.model import ConnectionPair, FixResult, Item
from billsync.engine.reconcile.model import Report as ReconcileReport

Progress = Callable[[str, int], None]


class Reconciler(Protocol):
    async def pairs(self) -> list[ConnectionPair]: ...

    async def compare(
        self,
        pair: ConnectionPair,
        *,
        since: datetime | None = None,
        progress: Progress | None = None,
    ) -> ReconcileReport: ...

    async def fix(self, pair: ConnectionPair, items: Sequence[Item]) -> list[FixResult]: ...
