"""What one wake-up's job deferral costs as procrastinate's backlog of waiting jobs grows.

    .venv/bin/python bench/waiting_jobs.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test

`JobQueue.defer` first asks whether the entity already has a drain job waiting (`todo`, due
now): it reads `args->>'entity'`, which no index covers (an index on it was tried and
reverted, docs/benchmarks.md). This fills a fresh schema with N waiting jobs of distinct
entities, then times `defer` of a wake-up for a new entity, in a transaction rolled back each
time (the backlog stays N): the question plus the insert, as intake and retries pay it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from billsync.engine.job_queue import QUEUE, TASK, JobQueue
from billsync.store.database import Database

BACKLOGS = (0, 1_000, 10_000, 100_000)


async def _schema(base_url: str, name: str, *, create: bool) -> None:
    admin = create_async_engine(base_url)
    try:
        async with admin.begin() as conn:
            verb = "CREATE SCHEMA" if create else "DROP SCHEMA"
            await conn.exec_driver_sql(f'{verb} "{name}"' + ("" if create else " CASCADE"))
    finally:
        await admin.dispose()


async def measure(base_url: str, repeat: int) -> None:
    schema = f"bench_waiting_{uuid.uuid4().hex[:8]}"
    await _schema(base_url, schema, create=True)
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    db = Database(url.render_as_string(hide_password=False))
    queue = JobQueue(db.url)
    try:
        await db.migrate()
        have = 0
        print(f"{'waiting jobs':>12}  {'median ms':>9}  {'p90 ms':>7}")
        for backlog in BACKLOGS:
            async with db.engine.begin() as conn:
                if backlog > have:
                    await conn.execute(
                        sa.text(
                            "INSERT INTO procrastinate_jobs "
                            "(queue_name, task_name, args, status, priority) "
                            "SELECT :queue, :task, jsonb_build_object('entity', 'togai:a-' || g), "
                            "'todo', 0 FROM generate_series(CAST(:lo AS int), CAST(:hi AS int)) g"
                        ),
                        {"queue": QUEUE, "task": TASK, "lo": have, "hi": backlog - 1},
                    )
                    have = backlog
                await conn.exec_driver_sql("ANALYZE procrastinate_jobs")
            seconds = []
            for i in range(repeat):
                async with db.write() as session:
                    started = time.perf_counter()
                    assert await queue.defer(session, [(f"togai:new-{i}", None)]) == 1
                    seconds.append(time.perf_counter() - started)
                    await session.rollback()
            seconds.sort()
            median = statistics.median(seconds) * 1000
            p90 = seconds[int(len(seconds) * 0.9)] * 1000
            print(f"{backlog:>12,}  {median:>9.2f}  {p90:>7.2f}")
    finally:
        await db.dispose()
        await _schema(base_url, schema, create=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", required=True, help="a PostgreSQL URL (a schema is made)")
    parser.add_argument("--repeat", type=int, default=50, help="deferrals timed per backlog")
    args = parser.parse_args()
    asyncio.run(measure(args.postgres, args.repeat))


if __name__ == "__main__":
    main()
