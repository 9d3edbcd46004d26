"""The procrastinate worker (PostgreSQL scale-out): executes drain jobs in N slots.

Start any number of these (`billsync worker`), on any machine, over one database. Each job
names an entity; the worker claims that entity's oldest unfinished run if it is due
(`store.leases.claim_entity`), executes it with the same `Runner.execute` as the embedded
worker (invariant 9), and claims again until nothing of the entity is due. Per-entity order
therefore comes from the run table, as in the embedded claimer, not from the order jobs are
fetched in (docs/architecture.md, "Dispatch").

A worker that dies (SIGKILL, a lost machine) loses its liveness lock at once
(store/liveness.py: a PostgreSQL advisory lock on a session of its own) and stops sending
procrastinate heartbeats. Every worker runs a reaper each `reap_seconds`: the runs of
workers whose lock is gone go back to the queue with a job each (engine/recovery.py), and
jobs in `doing` whose worker has been silent for
`stalled_seconds` get their runs released (leases by that job's owner prefix go back to
`queued`, with a new drain job in the same transaction) and are put back to `todo`. The
reaper takes no procrastinate lock (procrastinate#1408: a locked reaper stalled itself). A
run lease that expires anyway (a worker stuck, not dead) is requeued by the lease reconciler
every `reconcile_seconds`, which also defers a job for any runnable run no job will reach.
"""

from __future__ import annotations

import asyncio

import structlog

from billsync.clock import Clock, SystemClock
from billsync.engine.dispatch import ProcrastinateDispatcher
from billsync.engine.job_queue import QUEUE, TASK, JobQueue, owner_prefix
from billsync.engine.recovery import resume_dead_owners
from billsync.engine.runner import Runner
from billsync.store import leases, run_jobs
from billsync.store.database import Database
from billsync.store.liveness import Liveness
from billsync.tasks import cancel_and_wait

log = structlog.get_logger(__name__)


class JobWorker:
    def __init__(
        self,
        db: Database,
        runner: Runner,
        dispatcher: ProcrastinateDispatcher,
        *,
        clock: Clock | None = None,
        slots: int = 4,
        lease_seconds: float = 60.0,
        reconcile_seconds: float = 30.0,
        poll_seconds: float = 0.5,
        shutdown_grace_seconds: float = 10.0,
        heartbeat_seconds: float = 2.0,
        stalled_seconds: float = 8.0,
        reap_seconds: float = 2.0,
        liveness: Liveness | None = None,
    ) -> None:
        if slots < 1:
            raise ValueError("a worker needs at least one slot")
        if stalled_seconds < 2 * heartbeat_seconds:
            # Otherwise one late heartbeat makes a live worker look dead, and its runs
            # are taken from it (safe, but executed twice).
            raise ValueError("stalled_seconds must be at least twice heartbeat_seconds")
        self._db = db
        self._runner = runner
        self._dispatcher = dispatcher
        self._queue: JobQueue = dispatcher.queue
        self._clock = clock or SystemClock()
        self._slots = slots
        self._lease_seconds = lease_seconds
        self._reconcile_seconds = reconcile_seconds
        self._poll_seconds = poll_seconds
        self._grace = shutdown_grace_seconds
        self._heartbeat_seconds = heartbeat_seconds
        self._stalled_seconds = stalled_seconds
        self._reap_seconds = reap_seconds
        self._liveness = liveness
        self.owner = runner.owner
        self._draining: dict[str, int] = {}  #: entity -> drains of it in this process
        self._procrastinate: asyncio.Task[None] | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False
        self.executed = 0  #: runs handed to the runner since start
        self.reaped = 0  #: stalled jobs this worker put back to todo

    @property
    def in_flight(self) -> frozenset[str]:
        """Entities being drained here."""
        return frozenset(self._draining)

    @property
    def running(self) -> bool:
        return self._procrastinate is not None and not self._stopping

    async def start(self) -> None:
        if self._procrastinate is not None:
            raise RuntimeError("worker already started")
        self._stopping = False
        self._queue.handle_with(self._drain)
        await self._queue.open()
        await self.reconcile()
        self._procrastinate = asyncio.create_task(
            self._queue.app.run_worker_async(
                queues=[QUEUE],
                name=self.owner,
                concurrency=self._slots,
                # NOTIFY wakes a worker at once; the poll catches scheduled jobs (retries)
                # when they fall due, so it bounds a retry's extra delay.
                fetch_job_polling_interval=self._poll_seconds,
                abort_job_polling_interval=max(self._poll_seconds, 5.0),
                shutdown_graceful_timeout=self._grace,
                install_signal_handlers=False,
                update_heartbeat_interval=self._heartbeat_seconds,
                stalled_worker_timeout=self._stalled_seconds,
                # A job is a wake-up; the run table keeps the history.
                delete_jobs="always",
            ),
            name="billsync-procrastinate-worker",
        )
        self._loops = [
            asyncio.create_task(self._reap_loop(), name="billsync-worker-reap"),
            asyncio.create_task(self._reconcile_loop(), name="billsync-worker-reconcile"),
        ]
        log.info("worker started", owner=self.owner, slots=self._slots, dispatcher="procrastinate")

    async def stop(self) -> None:
        """Stop fetching; let running jobs finish within the grace period, then cancel them
        and release their runs (queued again, with a job each)."""
        if self._procrastinate is None:
            return
        self._stopping = True
        await cancel_and_wait(*self._loops)
        self._loops = []
        # procrastinate stops fetching and waits shutdown_graceful_timeout
        await cancel_and_wait(self._procrastinate)
        self._procrastinate = None
        async with self._db.write() as session:
            released = await run_jobs.release_owned(
                session, owner_suffix=f"@{self.owner}", now=self._clock.now()
            )
            if released:
                await self._dispatcher.wake(session, released)
        if released:
            log.info("released unfinished runs", count=len(released), run_ids=released)
        await self._queue.close()
        log.info("worker stopped", owner=self.owner)

    async def __aenter__(self) -> JobWorker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _drain(self, entity: str, prefix: str) -> None:
        owner = f"{prefix}{self.owner}"
        self._draining[entity] = self._draining.get(entity, 0) + 1
        try:
            while not self._stopping:
                async with self._db.write() as session:
                    run_id = await leases.claim_entity(
                        session,
                        entity,
                        owner=owner,
                        now=self._clock.now(),
                        lease_seconds=self._lease_seconds,
                    )
                if run_id is None:
                    return
                self.executed += 1
                try:
                    await self._runner.execute(run_id, owner=owner, leased=True)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # The run keeps its lease until it expires; the reconciler then
                    # queues it again with a job.
                    log.exception("run execution crashed", run_id=run_id)
                    return
        finally:
            left = self._draining[entity] - 1
            if left:
                self._draining[entity] = left
            else:
                del self._draining[entity]

    async def reap(self) -> list[int]:
        """Release the runs of drain jobs whose worker went silent and put the jobs back
        to `todo`; the released run ids."""
        released: list[int] = []
        if self._liveness is not None:
            # A worker whose liveness lock is gone died: no need to wait for its heartbeats
            # to go stale. Its jobs stay in `doing` until they do, then are retried below
            # (their runs are gone from them by then: a drain that finds nothing due).
            released += await resume_dead_owners(
                self._db, self._liveness, self._dispatcher, self._clock
            )
        for job in await self._queue.stalled(self._stalled_seconds):
            assert job.id is not None
            async with self._db.write() as session:
                freed = await run_jobs.release_owned(
                    session, owner_prefix=owner_prefix(job.id, job.attempts), now=self._clock.now()
                )
                if freed:
                    await self._dispatcher.wake(session, freed)
            if await self._queue.retry(job):
                self.reaped += 1
            released += freed
            log.warning(
                "resumed the runs of a stalled job",
                job_id=job.id,
                dead_worker=job.worker_id,
                run_ids=freed,
            )
        return released

    async def reconcile(self) -> list[int]:
        """Queue again the runs whose lease expired, and give a job to every runnable run
        no job will reach; the run ids woken."""
        async with self._db.write() as session:
            requeued = await leases.reconcile_expired(session, now=self._clock.now())
            orphans = await run_jobs.orphaned(session, task=TASK)
            woken = sorted(set(requeued) | set(orphans))
            if woken:
                await self._dispatcher.wake(session, woken)
        if requeued:
            log.warning("requeued runs with expired leases", run_ids=requeued)
        if orphans:
            log.info("deferred jobs for runnable runs without one", count=len(orphans))
        return woken

    async def run_until_idle(self) -> None:
        """Wait until no run is executing (here or elsewhere) and none can be claimed now.
        Wrap the call in asyncio.timeout."""
        loop = asyncio.get_running_loop()
        last_reconcile = loop.time()
        while True:
            if not self._draining:
                async with self._db.read() as session:
                    busy = await leases.has_work(session, now=self._clock.now())
                if not busy and not self._draining:
                    return
                if loop.time() - last_reconcile > 1.0:
                    # Runs written without a wake-up (by hand, by an older version) would
                    # otherwise wait for the periodic reconciler.
                    await self.reconcile()
                    last_reconcile = loop.time()
            await asyncio.sleep(0.02)

    async def _reap_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._reap_seconds)
            try:
                await self.reap()
            except Exception:
                log.exception("reaping stalled jobs failed")

    async def _reconcile_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._reconcile_seconds)
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconciling expired leases failed")
