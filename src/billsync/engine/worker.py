"""The embedded worker: claims due runs from the run table and executes them in N slots.

Claiming (store.leases.claim_next) picks the oldest due run whose entity has no older
unfinished run, so runs of one Togai account execute in order while different accounts run
in parallel (invariant 6). The worker wakes on the dispatcher's notify() and polls every
`poll_seconds` as a fallback. A reconciler at start and every `reconcile_seconds` returns
runs whose lease expired (a crashed process) to the queue. Leases are renewed by the
runner's heartbeat while a run executes. `stop()` lets in-flight runs finish within a grace
period, then cancels them and releases their leases so another worker can take them at once.
"""

from __future__ import annotations

import asyncio

import structlog

from billsync.clock import Clock, SystemClock
from billsync.engine.dispatch import EmbeddedDispatcher
from billsync.engine.runner import Runner
from billsync.store import leases
from billsync.store.database import Database
from billsync.tasks import cancel_and_wait, wait_event

log = structlog.get_logger(__name__)


class Worker:
    def __init__(
        self,
        db: Database,
        runner: Runner,
        dispatcher: EmbeddedDispatcher,
        *,
        clock: Clock | None = None,
        slots: int = 4,
        lease_seconds: float = 60.0,
        reconcile_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        shutdown_grace_seconds: float = 10.0,
    ) -> None:
        if slots < 1:
            raise ValueError("a worker needs at least one slot")
        self._db = db
        self._runner = runner
        self._dispatcher = dispatcher
        self._clock = clock or SystemClock()
        self._slots = slots
        self._lease_seconds = lease_seconds
        self._reconcile_seconds = reconcile_seconds
        self._poll_seconds = poll_seconds
        self._grace = shutdown_grace_seconds
        self.owner = runner.owner
        self._wakeup: asyncio.Event | None = None
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False
        self.executed = 0  #: runs handed to the runner since start

    @property
    def in_flight(self) -> frozenset[int]:
        return frozenset(self._in_flight)

    @property
    def running(self) -> bool:
        return bool(self._loops) and not self._stopping

    async def start(self) -> None:
        if self._loops:
            raise RuntimeError("worker already started")
        self._stopping = False
        self._wakeup = self._dispatcher.subscribe()
        await self.reconcile()
        self._loops = [
            asyncio.create_task(self._claim_loop(self._wakeup), name="billsync-worker-claim"),
            asyncio.create_task(self._reconcile_loop(), name="billsync-worker-reconcile"),
        ]
        log.info("worker started", owner=self.owner, slots=self._slots)

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Stop claiming; let in-flight runs finish, then cancel and release the rest."""
        if not self._loops:
            return
        self._stopping = True
        self._wake()
        await cancel_and_wait(*self._loops)
        self._loops = []
        grace = self._grace if grace_seconds is None else grace_seconds
        pending = list(self._in_flight.values())
        if pending:
            await asyncio.wait(pending, timeout=grace)
        leftovers = dict(self._in_flight)
        await cancel_and_wait(*leftovers.values())
        # Every slot is idle now, so whatever this owner still leases is unfinished: runs cut
        # off above, and runs a claim leased just as its loop was cancelled (never spawned).
        async with self._db.write() as session:
            released = await leases.release_held(session, owner=self.owner, now=self._clock.now())
        if released:
            log.info("released unfinished runs", count=len(released), run_ids=sorted(released))
        if self._wakeup is not None:
            self._dispatcher.unsubscribe(self._wakeup)
            self._wakeup = None
        log.info("worker stopped", owner=self.owner)

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def reconcile(self) -> list[int]:
        """Queue again the runs whose lease expired; their ids."""
        async with self._db.write() as session:
            requeued = await leases.reconcile_expired(session, now=self._clock.now())
        if requeued:
            log.warning("requeued runs with expired leases", run_ids=requeued)
            self._wake()
        return requeued

    async def run_until_idle(self) -> None:
        """Wait until no run is executing (here or elsewhere) and none can be claimed now.

        Runs waiting for a retry that is not due, or behind such a run of their entity, do
        not count. Wrap the call in asyncio.timeout."""
        while True:
            if not self._in_flight:
                async with self._db.read() as session:
                    busy = await leases.has_work(session, now=self._clock.now())
                if not busy and not self._in_flight:
                    return
                self._wake()
            await asyncio.sleep(0.01)

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    async def _claim_loop(self, wakeup: asyncio.Event) -> None:
        while not self._stopping:
            # Clear before claiming: a notify() arriving during the claim sets it again.
            wakeup.clear()
            claimed = False
            free = self._slots - len(self._in_flight)
            if free > 0 and not self._stopping:
                try:
                    run_ids = await self._claim(free)
                except Exception:
                    log.exception("claiming a run failed; retrying after the poll interval")
                    run_ids = []
                for run_id in run_ids:
                    self._spawn(run_id)
                # A full batch means more may be due; a short one drained the queue for now.
                claimed = len(run_ids) == free
            if claimed and len(self._in_flight) < self._slots:
                continue
            await wait_event(wakeup, self._poll_seconds)

    async def _claim(self, limit: int) -> list[int]:
        """Lease up to `limit` runs in one transaction."""
        async with self._db.write() as session:
            return await leases.claim_many(
                session,
                owner=self.owner,
                now=self._clock.now(),
                lease_seconds=self._lease_seconds,
                limit=limit,
            )

    def _spawn(self, run_id: int) -> None:
        task = asyncio.create_task(self._execute(run_id), name=f"billsync-run-{run_id}")
        self._in_flight[run_id] = task

        def _done(_task: asyncio.Task[None]) -> None:
            self._in_flight.pop(run_id, None)
            self._wake()  # a slot is free again

        task.add_done_callback(_done)

    async def _execute(self, run_id: int) -> None:
        self.executed += 1
        try:
            # claim_many has just leased the run for this owner: no second compare-and-set.
            await self._runner.execute(run_id, owner=self.owner, leased=True)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The run keeps its lease until it expires; the reconciler then queues it again.
            log.exception("run execution crashed", run_id=run_id)

    async def _reconcile_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._reconcile_seconds)
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconciling expired leases failed")
