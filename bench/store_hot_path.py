"""CPU per sync spent in the store's hot-path calls, without connectors or HTTP.

Replays the store calls the intake, the worker and the runner make for one sync: one event
that starts a 3-step run and one that starts a 5-step run (intake: enabled_current_stamps,
insert_id, create_id; worker: claim_many; runner: take_lease, the run read, per step
holds_lease + begin_attempt + insert_new, mapping find/insert, save + finish_attempt +
renew_leases, a retried step through previous_attempt/begin_attempt/save, a heartbeat
renew, succeed and mark_processed_if_done) against a temp SQLite database through
`billsync.store.database.Database`, N times.

    .venv/bin/python bench/store_hot_path.py [--n 300] [--url sqlite+aiosqlite:///...]

Measured on the 2-core dev machine (n=300, 3 runs each, interleaved): statements built per
call and ORM-attribute statements 44.3-47.7 ms CPU per sync (median 45.6); prebuilt Core
statements 20.4-24.6 ms (median 24.2).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet

from billsync.domain import IdLink, IncomingEvent, LinkKind, Side
from billsync.store import connections, events, flows, leases, mappings, runs, steps
from billsync.store.database import Database
from billsync.store.status import AttemptOutcome, StepStatus
from billsync.store.vault import Vault

OWNER = "bench-worker"
LEASE = 60.0


class Clock:
    def __init__(self) -> None:
        self._now = datetime(2024, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        self._now += timedelta(milliseconds=1)
        return self._now


async def setup(db: Database, clock: Clock) -> int:
    vault = Vault([Fernet.generate_key().decode()])
    async with db.write() as session:
        conn = await connections.create(
            session,
            vault,
            app="togai",
            name="togai-main",
            secrets={"api_key": "x"},
            now=clock.now(),
        )
        for name in ("three", "five"):
            await flows.create(
                session, name=name, definition={"steps": []}, enabled=True, now=clock.now()
            )
        return conn.id


async def intake(db: Database, clock: Clock, conn_id: int, n: int, i: int) -> None:
    """One event per flow, each starting one run (the intake's write transaction)."""
    for flow_idx in range(2):
        incoming = IncomingEvent(
            trigger="account.created",
            event_type="account.created",
            external_id=f"account:{i}:{flow_idx}",
            entity_key=f"togai-account:{i}:{flow_idx}",
            payload={"account": {"id": f"a{i}", "name": "Acme", "n": n}},
        )
        async with db.write() as session:
            stamps = await flows.enabled_current_stamps(session)
            now = clock.now()
            event_id = await events.insert_id(session, conn_id, incoming, now=now)
            assert event_id is not None
            flow_id = stamps[flow_idx][0]
            await runs.create_id(
                session,
                flow_id=flow_id,
                flow_version=1,
                event_id=event_id,
                entity_key=incoming.entity_key,
                now=now,
            )


async def run_steps(db: Database, clock: Clock, run_id: int, n_steps: int, i: int) -> None:
    async with db.write() as session:
        assert await leases.take_lease(
            session, run_id, owner=OWNER, now=clock.now(), lease_seconds=LEASE
        )
    async with db.read() as session:
        run = await runs.get(session, run_id, fresh=True)
        assert run is not None
        await flows.version_stamp(session, run.flow_id, run.flow_version)
        event = await events.get(session, run.event_id)
        assert event is not None
        await steps.for_run(session, run_id)
    for idx in range(n_steps):
        now = clock.now()
        async with db.write() as session:
            assert await leases.holds_lease(session, run_id, owner=OWNER, now=now)
            attempt_id = await steps.begin_attempt(session, run_id, idx, number=1, now=now)
            await steps.insert_new(
                session,
                run_id,
                idx,
                step_id=f"s{idx}",
                action="razorpay.create_customer",
                connection_id=None,
                status=StepStatus.RUNNING,
                input={"name": "Acme", "idx": idx},
                now=now,
            )
        if idx == 1:
            # A retried step: the failure, then a second attempt.
            now = clock.now()
            async with db.write() as session:
                await steps.finish_attempt(
                    session,
                    attempt_id,
                    outcome=AttemptOutcome.RETRY,
                    now=now,
                    error_class="UnavailableError",
                    message="503",
                    ambiguous=False,
                )
                await steps.save(
                    session,
                    run_id,
                    idx,
                    step_id=f"s{idx}",
                    action="razorpay.create_customer",
                    connection_id=None,
                    status=StepStatus.RETRY_WAIT,
                    input={"name": "Acme", "idx": idx},
                    error="503",
                    now=now,
                )
                assert await leases.holds_lease(session, run_id, owner=OWNER, now=now)
            async with db.write() as session:
                assert await leases.holds_lease(session, run_id, owner=OWNER, now=now)
                previous = await steps.previous_attempt(session, run_id, idx)
                assert previous is not None
                attempt_id = await steps.begin_attempt(
                    session, run_id, idx, number=previous.attempt + 1, now=now
                )
                await steps.save(
                    session,
                    run_id,
                    idx,
                    step_id=f"s{idx}",
                    action="razorpay.create_customer",
                    connection_id=None,
                    status=StepStatus.RUNNING,
                    input={"name": "Acme", "idx": idx},
                    now=now,
                    new_attempt=True,
                )
        async with db.read() as session:
            await mappings.find(
                session, LinkKind.ACCOUNT_CUSTOMER, Side.TOGAI, f"acc-{run_id}-{idx}"
            )
        now = clock.now()
        last = idx == n_steps - 1
        async with db.write() as session:
            if idx == 0:
                link = IdLink(LinkKind.ACCOUNT_CUSTOMER, f"acc-{run_id}-{i}", f"cust_{run_id}_{i}")
                await mappings.insert_new(session, link, run_id=run_id, now=now)
            await steps.save(
                session,
                run_id,
                idx,
                step_id=f"s{idx}",
                action="razorpay.create_customer",
                connection_id=None,
                status=StepStatus.SUCCEEDED,
                input={"name": "Acme", "idx": idx},
                output={"customer_id": f"cust_{run_id}", "source": "created"},
                now=now,
                finished=True,
            )
            await steps.finish_attempt(
                session, attempt_id, outcome=AttemptOutcome.SUCCEEDED, now=now
            )
            if last:
                assert await runs.succeed(session, run_id, owner=OWNER, now=now)
                await events.mark_processed_if_done(session, event.id)
            else:
                held = await leases.renew_leases(
                    session, [run_id], owner=OWNER, now=now, lease_seconds=LEASE
                )
                assert run_id in held
        if idx == 2:
            async with db.write() as session:  # the heartbeat
                await leases.renew_leases(
                    session, [run_id], owner=OWNER, now=clock.now(), lease_seconds=LEASE
                )


async def one_sync(db: Database, clock: Clock, conn_id: int, n: int, i: int) -> None:
    await intake(db, clock, conn_id, n, i)
    async with db.write() as session:
        claimed = await leases.claim_many(
            session, owner=OWNER, now=clock.now(), lease_seconds=LEASE, limit=8
        )
    assert len(claimed) == 2, claimed
    for run_id, n_steps in zip(claimed, (3, 5), strict=True):
        await run_steps(db, clock, run_id, n_steps, i)


async def main(url: str | None, n: int, warmup: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="billsync-bench-"))
    db = Database(url or f"sqlite+aiosqlite:///{tmp / 'bench.db'}")
    try:
        await db.migrate()
        clock = Clock()
        conn_id = await setup(db, clock)
        for i in range(warmup):
            await one_sync(db, clock, conn_id, n, -1 - i)
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(n):
            await one_sync(db, clock, conn_id, n, i)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(
            f"{n} syncs (one 3-step + one 5-step run each): "
            f"{1000 * cpu / n:.2f} ms CPU per sync, {1000 * wall / n:.2f} ms wall"
        )
    finally:
        await db.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.n, args.warmup))
