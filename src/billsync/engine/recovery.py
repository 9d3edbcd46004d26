"""Recovery of a dead executor's runs at once, not at lease expiry.

A lease alone cannot tell a dead executor from a slow one until it expires (60 s by
default); `store/liveness.py` can: every executor (an embedded worker, a procrastinate
`JobWorker`) holds a lock its process alone holds, and a registered owner whose lock is free
is dead. Its running runs go back to the queue, due now, and the dispatcher is told in the
same transaction (a procrastinate job each, or nothing for the embedded claimer).

The lease owner of a run names its executor: the embedded worker leases as its owner id, a
procrastinate drain job as `job-<id>.<attempt>@<owner id>` (engine/job_queue.py), so both
are matched by owner. Two survivors judging the same dead owner release its runs once (the
release only moves runs still leased by it).
"""

from __future__ import annotations

import structlog

from billsync.clock import Clock
from billsync.engine.dispatch import Dispatcher
from billsync.store import leases, run_jobs
from billsync.store.database import Database
from billsync.store.liveness import Liveness

log = structlog.get_logger(__name__)


async def resume_dead_owners(
    db: Database, liveness: Liveness, dispatcher: Dispatcher, clock: Clock
) -> list[int]:
    """Queue again the runs of every registered executor whose process is gone, forget
    those executors, and return the run ids released."""
    dead = await liveness.dead_owners()
    if not dead:
        return []
    released: list[int] = []
    async with db.write() as session:
        now = clock.now()
        for owner in dead:
            released += await leases.release_held(session, owner=owner, now=now)
            released += await run_jobs.release_owned(session, owner_suffix=f"@{owner}", now=now)
        if released:
            await dispatcher.wake(session, released)
    if released:
        dispatcher.notify()
    await liveness.forget(dead)
    log.warning("resumed the runs of stopped workers", owners=dead, run_ids=sorted(released))
    return released
