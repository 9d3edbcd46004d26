"""procrastinate, as billsync uses it: one task, `billsync.drain_entity(entity)`, on one queue.

A job carries no run id: it says "drain this entity's runs" (at its `schedule_at`, for a
retry). Whoever executes it claims the entity's oldest unfinished run if it is due
(`store.leases.claim_entity`, the embedded claimer's FIFO rule narrowed to one entity),
executes it with `Runner.execute`, and claims again until nothing of the entity is due. The
run table stays the queue's truth; jobs are wake-ups, so a duplicate or stray job costs one
claim query and cannot reorder or double anything. A wake-up for an entity that already has
a job waiting to drain it now defers none (`_waiting`): in a burst, an account's invoice run
rides on the job of its account run instead of costing a second job.

Jobs are deferred on the caller's psycopg connection (`defer`), inside the transaction that
makes the runs runnable: they commit or roll back with the runs. procrastinate's schema is
applied by billsync's own migrations (0009).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import procrastinate
import sqlalchemy as sa
from procrastinate import jobs as procrastinate_jobs
from procrastinate.types import JSONDict
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

TASK = "billsync.drain_entity"
QUEUE = "billsync_runs"

#: What executes a job: (entity key, the job's owner prefix, see `owner_prefix`).
Drain = Callable[[str, str], Awaitable[None]]


def conninfo(database_url: str) -> str:
    """The libpq URL of a SQLAlchemy `postgresql+psycopg://` URL (query options, such as a
    search_path, kept)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def owner_prefix(job_id: int, attempts: int) -> str:
    """How the lease owner of the runs one execution of a job holds begins; the executor
    (host:pid:id) follows. So the reaper finds the runs of a stalled job by prefix, and a
    stopping process its own by suffix. `attempts` grows when a job is retried, so a
    late reaper never matches the runs of the job's next execution."""
    return f"job-{job_id}.{attempts}@"


class JobQueue:
    """The procrastinate App with billsync's task. Deferring needs no pool (it runs on the
    caller's connection); a worker opens the pool (`open`) to fetch jobs and reap."""

    def __init__(self, database_url: str) -> None:
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(
                conninfo=conninfo(database_url),
                # A worker needs few connections: one to LISTEN, a few for fetching and
                # finishing jobs; billsync's own work uses its SQLAlchemy pool.
                min_size=1,
                max_size=4,
            )
        )
        self._drain: Drain | None = None
        self.task = self.app.task(name=TASK, queue=QUEUE, pass_context=True)(self._run)

    def handle_with(self, drain: Drain) -> None:
        """The worker's drain loop; jobs executed before one is set fail (and are retried
        by the reaper only if their worker dies), so set it before `open`."""
        self._drain = drain

    async def _run(self, context: procrastinate.JobContext, entity: str) -> None:
        if self._drain is None:
            raise RuntimeError("no drain handler: this process does not execute runs")
        job = context.job
        assert job.id is not None
        await self._drain(entity, owner_prefix(job.id, job.attempts))

    async def defer(
        self, session: AsyncSession, targets: Iterable[tuple[str, datetime | None]]
    ) -> int:
        """Defer a drain job per distinct (entity, time) on the session's own connection,
        so the jobs commit with whatever made the runs runnable; how many."""
        by_time: dict[datetime | None, set[str]] = {}
        now = datetime.now(UTC)
        for entity, at in targets:
            # A due time already past (a new run's) is now: one batch, and deduplicated.
            by_time.setdefault(None if at is None or at <= now else at, set()).add(entity)
        if None in by_time:
            # An entity with a job already waiting to drain it now needs no second one.
            by_time[None] -= await self._waiting(session, by_time[None])
            if not by_time[None]:
                del by_time[None]
        if not by_time:
            return 0
        connection = await session.connection()
        raw = (await connection.get_raw_connection()).driver_connection
        deferred = 0
        for at, entities in by_time.items():
            kwargs: dict[str, Any] = {"connection": raw}
            if at is not None:
                kwargs["schedule_at"] = at
            deferrer = self.task.configure(**kwargs)
            jobs: list[JSONDict] = [{"entity": e} for e in sorted(entities)]
            ids = await deferrer.batch_defer_async(*jobs)
            deferred += len(ids)
        return deferred

    async def _waiting(self, session: AsyncSession, entities: set[str]) -> set[str]:
        """Entities with a drain job due now that no worker is fetching, locked until the
        caller's transaction ends.

        The lock is what makes skipping safe: procrastinate fetches with `SKIP LOCKED`, so the
        job cannot start draining before the caller's runs are committed, and then it drains
        them too. A job being fetched right now is locked by its fetcher and skipped here, so
        the caller defers its own (a duplicate wake-up, which costs one claim query)."""
        rows = await session.execute(
            sa.text(
                "SELECT args->>'entity' FROM procrastinate_jobs "
                "WHERE queue_name = :queue AND task_name = :task AND status = 'todo' "
                "AND (scheduled_at IS NULL OR scheduled_at <= now()) "
                "AND args->>'entity' = ANY(:entities) "
                "FOR UPDATE SKIP LOCKED"
            ),
            {"queue": QUEUE, "task": TASK, "entities": sorted(entities)},
        )
        return {str(entity) for entity in rows.scalars()}

    async def open(self) -> None:
        await self.app.open_async()

    async def close(self) -> None:
        await self.app.close_async()

    async def stalled(self, seconds_since_heartbeat: float) -> list[procrastinate_jobs.Job]:
        """Drain jobs in `doing` whose worker stopped sending heartbeats (or is gone)."""
        found = await self.app.job_manager.get_stalled_jobs(
            queue=QUEUE, task_name=TASK, seconds_since_heartbeat=seconds_since_heartbeat
        )
        return list(found)

    async def retry(self, job: procrastinate_jobs.Job) -> bool:
        """Put a stalled job back to `todo`, due now; False when another reaper did first."""
        try:
            await self.app.job_manager.retry_job(job)
        except procrastinate.exceptions.ConnectorException:
            return False
        return True
