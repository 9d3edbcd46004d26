"""/metrics under a crowd of scrapers: 200 concurrent scrapes, with and without the
snapshot cache (BILLSYNC_METRICS_CACHE_SECONDS).

billsync serves on a real socket (uvicorn in a thread, as `billsync serve` does) over a
SQLite file seeded with E events and their runs, each run with one step and two attempts
(the aggregates /metrics reads: events and runs by status, attempts by outcome, calls per
connection, recent step timings, the oldest unfinished run). The scrapers are one httpx
client in this process sending `--scrapes` GETs at once with the scrape token. Reported:
wall time of the crowd, the database snapshots taken, and the server's CPU time.

    .venv/bin/python bench/metrics_scrapes.py                 # 200 scrapes, 20000 events
    .venv/bin/python bench/metrics_scrapes.py --scrapes 500 --events 50000
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
from pydantic import SecretStr

from billsync.api import metrics
from billsync.api.server import create_api
from billsync.app import build
from billsync.app import connections as connection_ops
from billsync.app import flows as flow_ops
from billsync.clock import SystemClock
from billsync.config import Settings
from billsync.domain import IncomingEvent
from billsync.store import events, runs, steps
from billsync.store.status import AttemptOutcome, StepStatus
from billsync.store.vault import Vault

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.servers import serve  # noqa: E402

TOKEN = "bench-metrics-token"


async def seed(settings: Settings, count: int) -> None:
    app = build(settings)
    await app.migrate()
    now = SystemClock().now()
    togai = await connection_ops.create(
        app, app_name="togai", name="T", values={"api_token": "t" * 20}, verify=False
    )
    razorpay = await connection_ops.create(
        app,
        app_name="razorpay",
        name="R",
        values={"key_id": "rzp_test_x", "key_secret": "s" * 20},
        verify=False,
    )
    flow = await flow_ops.create_from_template(
        app, "togai-account-to-razorpay-customer", {"togai": togai.id, "razorpay": razorpay.id}
    )
    async with app.db.write() as session:
        for i in range(count):
            event = await events.insert(
                session,
                togai.id,
                IncomingEvent(
                    trigger="invoice.paid",
                    event_type="invoice.paid",
                    external_id=f"e{i}",
                    entity_key=f"acc:{i % 500}",
                    payload={"i": i},
                ),
                now=now,
            )
            assert event is not None
            run = await runs.create(
                session,
                flow_id=flow.id,
                flow_version=1,
                event_id=event.id,
                entity_key=f"acc:{i % 500}",
                now=now,
            )
            assert run is not None
            for number in (1, 2):
                attempt = await steps.begin_attempt(session, run.id, 0, number=number, now=now)
                await steps.finish_attempt(
                    session,
                    attempt,
                    now=now + timedelta(milliseconds=40 * number),
                    outcome=AttemptOutcome.RETRY if number == 1 else AttemptOutcome.SUCCEEDED,
                )
            await steps.save(
                session,
                run.id,
                0,
                step_id="s",
                action="razorpay.create_customer",
                connection_id=razorpay.id,
                status=StepStatus.SUCCEEDED,
                now=now,
            )
    await app.db.dispose()


async def crowd(base: str, scrapes: int) -> float:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=scrapes, max_keepalive_connections=scrapes)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:
        start = time.perf_counter()
        answers = await asyncio.gather(
            *(http.get("/metrics", headers=auth) for _ in range(scrapes))
        )
        elapsed = time.perf_counter() - start
    assert {r.status_code for r in answers} == {200}, {r.status_code for r in answers}
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args()
    taken = 0
    original = metrics.snapshot

    async def counted(app: object) -> metrics.Snapshot:
        nonlocal taken
        taken += 1
        return await original(app)  # type: ignore[arg-type]

    metrics.snapshot = counted  # type: ignore[assignment]
    print(
        f"# {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"python {platform.python_version()}; {args.events} events/runs, 2 attempts each"
    )
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "m.db"
        base_settings = dict(
            database_url=f"sqlite+aiosqlite:///{db}",
            secret_keys=SecretStr(Vault.generate_key()),
            metrics_token=SecretStr(TOKEN),
        )
        asyncio.run(seed(Settings(**base_settings), args.events))  # type: ignore[arg-type]
        for ttl in (0.0, 10.0):
            app = build(Settings(**base_settings, metrics_cache_seconds=ttl))  # type: ignore[arg-type]
            api = create_api(app, start_worker=False, start_poller=False)
            with serve(api) as base:
                taken = 0
                cpu = time.process_time()
                first = asyncio.run(crowd(base, args.scrapes))
                second = asyncio.run(crowd(base, args.scrapes))
                cpu = time.process_time() - cpu
            label = "no cache (snapshot per scrape)" if ttl == 0 else f"cache {ttl:g} s"
            print(
                f"{label}: {args.scrapes} concurrent scrapes {first:.2f} s, again "
                f"{second:.2f} s; database snapshots {taken}; process CPU {cpu:.2f} s"
            )


if __name__ == "__main__":
    main()
