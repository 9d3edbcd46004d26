"""The reconciliation schedule: every pair that flows bind is reconciled every
`BILLSYNC_RECONCILE_EVERY` seconds (a day by default; 0 switches it off).

Only the serving process runs it (the composition root starts it with the poller; CLI
one-shots and `billsync worker` processes do not). A pair is due when its newest
reconciliation, whatever started it, began at least one interval ago; a pair never
reconciled counts from when the schedule started, so installing or restarting billsync
does not set off a comparison at once, and a restart does not postpone a due one. Time
comes from the Clock: `tick()` decides and starts, the loop only calls it now and then.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import structlog

from billsync.app.reconciliations import Reconciliations
from billsync.clock import Clock
from billsync.engine.reconcile.model import ConnectionPair
from billsync.store.reconciliations import Origin
from billsync.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

ACTOR = "schedule"
#: How often the loop asks whether a pair is due (never more often than the interval).
CHECK_SECONDS = 60.0


class ReconcileSchedule:
    def __init__(
        self,
        reconciliations: Reconciliations,
        clock: Clock,
        *,
        every: float,
        check_seconds: float = CHECK_SECONDS,
    ) -> None:
        self._reconciliations = reconciliations
        self._clock = clock
        self.every = every
        self._check = min(check_seconds, every) if every > 0 else check_seconds
        self._anchor: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0  #: completed checks, for tests

    @property
    def enabled(self) -> bool:
        return self.every > 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def due(self) -> list[ConnectionPair]:
        """The bound pairs whose newest reconciliation began an interval ago or more."""
        now = self._clock.now()
        if self._anchor is None:
            self._anchor = now
        interval = timedelta(seconds=self.every)
        latest = {
            ConnectionPair(row.togai_connection_id, row.razorpay_connection_id): row.started_at
            for row in await self._reconciliations.latest_per_pair()
        }
        pairs = await self._reconciliations.bound_pairs()
        return [p for p in pairs if now - latest.get(p, self._anchor) >= interval]

    async def tick(self) -> list[int]:
        """Start the due pairs' reconciliations in the background; their ids."""
        if not self.enabled:
            return []
        started = []
        for pair in await self.due():
            row, new = await self._reconciliations.open(
                pair,
                since=None,
                origin=Origin.SCHEDULE,
                actor=ACTOR,
                unless_started_after=self._clock.now() - timedelta(seconds=self.every),
            )
            if row is not None and new:
                self._reconciliations.spawn(row.id, pair, None)
                started.append(row.id)
                log.info("scheduled reconciliation started", reconciliation_id=row.id)
        self.ticks += 1
        return started

    async def start(self) -> None:
        if self.running:
            raise RuntimeError("reconciliation schedule already started")
        if not self.enabled:
            return
        self._anchor = self._clock.now()
        self._task = asyncio.create_task(self._loop(), name="billsync-reconcile-schedule")
        log.info("reconciliation schedule started", every_seconds=self.every)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        await cancel_and_wait(task)

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("reconciliation schedule check failed; retrying next check")
            await asyncio.sleep(self._check)
