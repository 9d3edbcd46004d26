"""Cost of the cluster-wide rate limit (engine/shared_bucket.py over store/rate_limits.py):
statements per request and CPU/wall per request at 1 and 32 concurrent callers, against the
in-process TokenBucket. The rate is set high enough that no caller waits for a token, so the
figures are the limiter's own overhead. Needs a PostgreSQL database; its own schema is
created and dropped.

    .venv/bin/python bench/shared_ratelimit.py \
        --url postgresql+psycopg://postgres@127.0.0.1:5432/test [--n 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from billsync.engine.ratelimit import RateLimiters
from billsync.store.database import Database
from billsync.store.rate_limits import RateLimitStore


async def measure(name: str, limiters: RateLimiters, n: int, callers: int) -> None:
    bucket = limiters.get(name, 1e6, 100_000)
    store = limiters.store
    before = store.statements if store is not None else 0

    async def caller() -> None:
        for _ in range(n // callers):
            await bucket.acquire()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    statements = (store.statements - before) if store is not None else 0
    kind = "shared (PostgreSQL)" if store is not None else "in-process"
    print(
        f"{kind:20} {callers:3} callers: {statements / n:5.3f} statements/request "
        f"{1e6 * cpu / n:7.1f} µs CPU/request {1e6 * wall / n:7.1f} µs wall/request"
    )


async def run(url: str, n: int) -> None:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(url)
    async with admin.begin() as conn:
        await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    db = Database(
        make_url(url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    try:
        await db.migrate()
        for callers in (1, 32):
            await measure(f"local{callers}", RateLimiters(), n, callers)
            shared = RateLimiters(store=RateLimitStore(db))
            await measure(f"shared{callers}", shared, n, callers)
            await shared.aclose()
    finally:
        await db.dispose()
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--n", type=int, default=4000)
    args = parser.parse_args()
    asyncio.run(run(args.url, args.n))


if __name__ == "__main__":
    main()
