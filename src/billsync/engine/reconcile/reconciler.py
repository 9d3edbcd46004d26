"""The Reconciler: which connection pairs to compare, the comparison, and its repairs.

`compare` reads both sides through list endpoints (snapshot.py) and judges every object
(customers.py, invoices.py, payments.py); it writes nothing anywhere. `fix` re-reads each
item's objects by id (a report may be stale), judges them again and carries out what is
safe (repair.py): billsync's own mappings directly, provider writes only through ordinary
runs of the enabled flows, started by one event per item stored through the intake.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime

import structlog

from billsync import errors
from billsync.clock import Clock, SystemClock
from billsync.engine.clients import ClientCache
from billsync.engine.definitions import DefinitionCache
from billsync.engine.flow import FlowDefinition
from billsync.engine.intake import Intake
from billsync.engine.reconcile.comparison import judge_all
from billsync.engine.reconcile.model import ConnectionPair, FixResult, Item, Report
from billsync.engine.reconcile.repair import Repair
from billsync.engine.reconcile.snapshot import Reader
from billsync.engine.reconcile.verdict import Scope
from billsync.store import connections, flows
from billsync.store.database import Database
from billsync.store.models import Connection

log = structlog.get_logger(__name__)

TOGAI = "togai"
RAZORPAY = "razorpay"


class PairError(errors.SyncError):
    """The connections named are missing or not a Togai + Razorpay pair."""


class Reconciler:
    def __init__(
        self,
        db: Database,
        clients: ClientCache,
        intake: Intake,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._db = db
        self._clients = clients
        self._intake = intake
        self._clock = clock or SystemClock()
        self._definitions = DefinitionCache()
        #: the last comparison of each pair: its window and calls (what a full re-read costs)
        self._last_read: dict[ConnectionPair, tuple[datetime | None, int]] = {}

    async def _enabled(self) -> list[FlowDefinition]:
        found: list[FlowDefinition] = []
        async with self._db.read() as session:
            for _flow_id, _version, stamp in await flows.enabled_current_stamps(session):
                defn = self._definitions.get(stamp)
                if defn is None:
                    raw = await flows.definition_of(session, stamp[0])
                    if raw is None:
                        continue
                    defn = self._definitions.parse(stamp, raw)
                if isinstance(defn, FlowDefinition):
                    found.append(defn)
        return found

    async def _apps(self) -> dict[str, str]:
        async with self._db.read() as session:
            return {str(row.id): row.app for row in await connections.list_all(session)}

    async def pairs(self) -> list[ConnectionPair]:
        """Each Togai + Razorpay connection pair that an enabled flow binds (its trigger on
        one, an action on the other), in id order."""
        apps = await self._apps()
        found: set[ConnectionPair] = set()
        for defn in await self._enabled():
            source = defn.trigger.connection_id
            for step in defn.steps:
                ends = {apps.get(source): source, apps.get(step.connection_id): step.connection_id}
                if TOGAI in ends and RAZORPAY in ends and len(ends) == 2:
                    found.add(ConnectionPair(int(ends[TOGAI]), int(ends[RAZORPAY])))
        return sorted(found, key=lambda p: (p.togai_id, p.razorpay_id))

    async def triggers(self, pair: ConnectionPair) -> frozenset[str]:
        """The triggers of the enabled flows binding this pair (what a fix can fire)."""
        wanted = {str(pair.togai_id), str(pair.razorpay_id)}
        found: set[str] = set()
        for defn in await self._enabled():
            source = defn.trigger.connection_id
            if source in wanted and any(
                s.connection_id in wanted and s.connection_id != source for s in defn.steps
            ):
                found.add(defn.trigger.trigger)
        return frozenset(found)

    async def _rows(self, pair: ConnectionPair) -> tuple[Connection, Connection]:
        async with self._db.read() as session:
            togai = await connections.get(session, pair.togai_id)
            razorpay = await connections.get(session, pair.razorpay_id)
        if togai is None or togai.app != TOGAI:
            raise PairError(f"no Togai connection {pair.togai_id}")
        if razorpay is None or razorpay.app != RAZORPAY:
            raise PairError(f"no Razorpay connection {pair.razorpay_id}")
        return togai, razorpay

    async def _reader(
        self,
        pair: ConnectionPair,
        calls: Counter[str],
        progress: Callable[[str, int], None] | None = None,
    ) -> Reader:
        togai, razorpay = await self._rows(pair)
        return Reader(
            await self._clients.get(togai),
            await self._clients.get(razorpay),
            calls=calls,
            progress=progress,
        )

    async def compare(
        self,
        pair: ConnectionPair,
        *,
        since: datetime | None = None,
        progress: Callable[[str, int], None] | None = None,
    ) -> Report:
        """Compare both sides of `pair`; writes nothing to either provider (nor billsync)."""
        report = Report(pair=pair, since=since)
        reader = await self._reader(pair, report.calls, progress)
        snap = await reader.full(self._db, since)
        scope = Scope(since=since, flows=await self.triggers(pair))
        report.items = [v.item for v in judge_all(snap, scope)]
        self._last_read[pair] = (since, sum(report.calls.values()))
        log.info(
            "reconciliation compared",
            togai=pair.togai_id,
            razorpay=pair.razorpay_id,
            items=len(report.items),
            drift=report.drift,
            calls=dict(report.calls),
        )
        return report

    async def fix(self, pair: ConnectionPair, items: Sequence[Item]) -> list[FixResult]:
        """Repair what is safe, item by item (see repair.py); one FixResult per item."""
        calls: Counter[str] = Counter()
        reader = await self._reader(pair, calls)
        repair = Repair(
            self._db,
            self._intake,
            pair,
            reader,
            await self.triggers(pair),
            clock=self._clock,
        )
        since, cost = self._last_read.get(pair, (None, None))
        results = await repair.run(items, full_read_calls=cost, since=since)
        log.info(
            "reconciliation fixed",
            togai=pair.togai_id,
            razorpay=pair.razorpay_id,
            items=len(items),
            runs=sum(len(r.run_ids) for r in results),
            calls=dict(calls),
        )
        return results
