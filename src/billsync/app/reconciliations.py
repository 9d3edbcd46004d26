"""Reconciliations as the faces see them: start one (one pair, or every pair flows bind) as
a background task of the serving process and store its report; read stored reports
(reconciliation_reports.py); fix selected items (reconciliation_fixes.py).

The comparison and the repairs are the engine's (`engine/reconcile`, reached through the
`Reconciler` port, app/reconciler.py); this module stores what it reports.
A reconciliation runs in the process that started it: its row is renewed while it runs,
and a row that stopped moving (the process died) is marked failed when the next one
starts or the process starts. A pair is never compared twice at once: starting it again
returns the reconciliation already running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from billsync import errors
from billsync.app.reconciler import Reconciler
from billsync.app.reconciliation_fixes import FixOutcome, fix_items
from billsync.app.reconciliation_reports import (
    ReconciliationConflictError,
    ReconciliationInputError,
    ReconciliationReports,
    ReconciliationStateError,
)
from billsync.clock import Clock
from billsync.engine.reconcile.model import ConnectionPair
from billsync.store import audit, connections
from billsync.store import reconciliations as store
from billsync.store.database import Database
from billsync.store.models import Reconciliation
from billsync.store.reconciliations import Origin
from billsync.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

#: A running reconciliation's row is renewed at least this often...
HEARTBEAT_SECONDS = 30.0
#: ...so one not renewed for this long belongs to a process that is gone.
STALE_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class PairInfo:
    """A connection pair with the names users gave its connections."""

    pair: ConnectionPair
    togai_name: str
    razorpay_name: str

    @property
    def label(self) -> str:
        return f"{self.togai_name} ↔ {self.razorpay_name}"


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, errors.SyncError):
        return exc.message  # safe to show: connectors scrub credentials
    return f"internal error ({type(exc).__name__}); see the logs"


class Reconciliations(ReconciliationReports):
    """Starts, stores and fixes reconciliations; owns their background tasks."""

    def __init__(self, db: Database, clock: Clock, reconciler: Reconciler) -> None:
        super().__init__(db)
        self._clock = clock
        #: The engine's; tests may put an in-memory one in its place.
        self.reconciler = reconciler
        self._tasks: dict[int, asyncio.Task[None]] = {}

    # -- starting -----------------------------------------------------------------------

    async def bound_pairs(self) -> list[ConnectionPair]:
        """Every Togai + Razorpay pair that enabled flows bind."""
        return await self.reconciler.pairs()

    async def pairs(self) -> list[PairInfo]:
        """The bound pairs, with connection names."""
        return await self._named(await self.bound_pairs())

    async def _named(self, pairs: Sequence[ConnectionPair]) -> list[PairInfo]:
        names = await self.connection_names()
        return [
            PairInfo(
                pair,
                names.get(pair.togai_id, f"connection {pair.togai_id}"),
                names.get(pair.razorpay_id, f"connection {pair.razorpay_id}"),
            )
            for pair in pairs
        ]

    async def resolve_pairs(
        self, togai_connection_id: int | None, razorpay_connection_id: int | None
    ) -> list[ConnectionPair]:
        """The pair named (both ids, each of the right app), or every bound pair."""
        if togai_connection_id is None and razorpay_connection_id is None:
            found = await self.bound_pairs()
            if not found:
                raise ReconciliationConflictError(
                    [
                        (
                            "togai_connection_id",
                            "no enabled flow binds a Togai connection to a Razorpay "
                            "connection; name both connections",
                        )
                    ]
                )
            return found
        problems: list[tuple[str, str]] = []
        conflicts: list[tuple[str, str]] = []
        async with self._db.read() as session:
            for field, wanted, connection_id in (
                ("togai_connection_id", "togai", togai_connection_id),
                ("razorpay_connection_id", "razorpay", razorpay_connection_id),
            ):
                if connection_id is None:
                    problems.append((field, "give both connection ids, or neither"))
                    continue
                row = await connections.get(session, connection_id)
                if row is None:
                    conflicts.append((field, f"no connection {connection_id}"))
                elif row.app != wanted:
                    conflicts.append(
                        (field, f"connection {connection_id} is a {row.app} connection")
                    )
        if problems:
            raise ReconciliationInputError(problems + conflicts)
        if conflicts:
            raise ReconciliationConflictError(conflicts)
        assert togai_connection_id is not None and razorpay_connection_id is not None
        return [ConnectionPair(togai_connection_id, razorpay_connection_id)]

    async def open(
        self,
        pair: ConnectionPair,
        *,
        since: datetime | None,
        origin: Origin,
        actor: str,
        unless_started_after: datetime | None = None,
    ) -> tuple[Reconciliation | None, bool]:
        """The pair's running reconciliation, or a new `running` row: (row, is new). With
        `unless_started_after`, nothing (None, False) when the pair's newest reconciliation
        started after it: the schedule's check, repeated under the pair's lock so that
        serving processes sharing a database start it once."""
        now = self._clock.now()
        async with self._db.write() as session:
            await store.lock_pair(session, pair.togai_id, pair.razorpay_id)
            if unless_started_after is not None:
                newest = await store.list_recent(
                    session,
                    limit=1,
                    togai_connection_id=pair.togai_id,
                    razorpay_connection_id=pair.razorpay_id,
                )
                if newest and newest[0].started_at > unless_started_after:
                    return None, False
            await store.fail_stale(
                session,
                updated_before=now - STALE_AFTER,
                error="interrupted: the process running it stopped",
                now=now,
                keep=self._tasks,
            )
            running = await store.running_for(session, pair.togai_id, pair.razorpay_id)
            if running is not None:
                return running, False
            row = await store.create(
                session,
                togai_connection_id=pair.togai_id,
                razorpay_connection_id=pair.razorpay_id,
                since=since,
                origin=origin,
                actor=actor,
                now=now,
            )
            if origin is not Origin.SCHEDULE:
                await audit.record(
                    session,
                    actor=actor,
                    action="reconciliation.start",
                    target=f"reconciliation:{row.id}",
                    now=now,
                    detail={
                        "togai_connection_id": pair.togai_id,
                        "razorpay_connection_id": pair.razorpay_id,
                        "since": since.isoformat() if since else None,
                    },
                )
            return row, True

    async def start(
        self,
        *,
        togai_connection_id: int | None = None,
        razorpay_connection_id: int | None = None,
        since: datetime | None = None,
        origin: Origin,
        actor: str,
    ) -> list[Reconciliation]:
        """Start comparing in the background; the rows, `running` (one per pair)."""
        started = []
        for pair in await self.resolve_pairs(togai_connection_id, razorpay_connection_id):
            row, new = await self.open(pair, since=since, origin=origin, actor=actor)
            assert row is not None  # only a schedule check returns none
            if new:
                self.spawn(row.id, pair, since)
            started.append(row)
        return started

    async def run_now(
        self, pair: ConnectionPair, *, since: datetime | None, origin: Origin, actor: str
    ) -> Reconciliation:
        """Compare in the foreground (a one-shot command) and return the finished row."""
        row, new = await self.open(pair, since=since, origin=origin, actor=actor)
        assert row is not None  # only a schedule check returns none
        if not new:
            raise ReconciliationStateError(
                f"reconciliation {row.id} of this pair is already running"
            )
        await self.execute(row.id, pair, since)
        return await self.get(row.id)

    def spawn(self, reconciliation_id: int, pair: ConnectionPair, since: datetime | None) -> None:
        task = asyncio.create_task(
            self.execute(reconciliation_id, pair, since),
            name=f"billsync-reconciliation-{reconciliation_id}",
        )
        self._tasks[reconciliation_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(reconciliation_id, None))

    async def execute(
        self, reconciliation_id: int, pair: ConnectionPair, since: datetime | None
    ) -> None:
        """Compare the pair and store the report (or the error) on the row."""
        notes: list[tuple[str, int]] = []
        beat = asyncio.create_task(self._heartbeat(reconciliation_id, notes))
        try:
            report = await self.reconciler.compare(
                pair, since=since, progress=lambda what, n: notes.append((what, n))
            )
        except asyncio.CancelledError:
            await self._fail(reconciliation_id, "interrupted: billsync stopped")
            raise
        except Exception as exc:
            if not isinstance(exc, errors.SyncError):
                log.exception("reconciliation crashed", reconciliation_id=reconciliation_id)
            await self._fail(reconciliation_id, _error_text(exc))
            return
        finally:
            await cancel_and_wait(beat)
        try:
            async with self._db.write() as session:
                await store.add_items(
                    session, reconciliation_id, (i.as_json() for i in report.items)
                )
                await store.succeed(
                    session,
                    reconciliation_id,
                    summary=report.summary(),
                    drift=report.drift,
                    calls=dict(report.calls),
                    now=self._clock.now(),
                )
        except Exception as exc:
            log.exception("storing a reconciliation failed", reconciliation_id=reconciliation_id)
            await self._fail(
                reconciliation_id, f"the report could not be stored: {_error_text(exc)}"
            )
            return
        log.info(
            "reconciliation finished",
            reconciliation_id=reconciliation_id,
            items=len(report.items),
            drift=report.drift,
        )

    async def _fail(self, reconciliation_id: int, message: str) -> None:
        async with self._db.write() as session:
            await store.fail(session, reconciliation_id, error=message, now=self._clock.now())
        log.warning("reconciliation failed", reconciliation_id=reconciliation_id, error=message)

    async def _heartbeat(self, reconciliation_id: int, notes: list[tuple[str, int]]) -> None:
        """Renew the row with the latest progress note while the comparison runs (wall time:
        it only shows progress and proves the process alive)."""
        shown: tuple[str, int] | None = None
        quiet = 0.0
        while True:
            await asyncio.sleep(1.0)
            quiet += 1.0
            latest = notes[-1] if notes else None
            if latest == shown and quiet < HEARTBEAT_SECONDS:
                continue
            shown, quiet = latest, 0.0
            note = f"{latest[0]}: {latest[1]}" if latest else "starting"
            try:
                async with self._db.write() as session:
                    await store.note_progress(
                        session, reconciliation_id, note, now=self._clock.now()
                    )
            except Exception:
                log.exception("noting reconciliation progress failed")

    @property
    def running(self) -> frozenset[int]:
        """Reconciliations running in this process."""
        return frozenset(self._tasks)

    async def wait(self) -> None:
        """Until every background reconciliation of this process has finished."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def recover(self) -> list[int]:
        """Mark failed the running rows no process renews any more; their ids."""
        now = self._clock.now()
        async with self._db.write() as session:
            return await store.fail_stale(
                session,
                updated_before=now - STALE_AFTER,
                error="interrupted: the process running it stopped",
                now=now,
                keep=self._tasks,
            )

    async def stop(self) -> None:
        """Cancel background reconciliations (each is marked failed, "interrupted")."""
        tasks = list(self._tasks.values())
        await cancel_and_wait(*tasks)

    # -- fixing -------------------------------------------------------------------------

    async def fix(
        self, reconciliation_id: int, item_ids: Sequence[int], *, actor: str
    ) -> list[FixOutcome]:
        """Repair the selected items through ordinary runs (the engine's Reconciler.fix,
        which re-reads both sides first) and record each item's event and runs."""
        return await fix_items(
            self, self.reconciler, self._db, self._clock, reconciliation_id, item_ids, actor=actor
        )
