"""The procrastinate dispatcher and worker (PostgreSQL): jobs commit with the runs, per-entity
order across two workers (a retry keeps its place), retries scheduled at the engine's time,
a dead worker's runs resumed by the reaper, runnable runs without a job found again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from billsync import errors
from billsync.clock import SystemClock
from billsync.engine.dispatch import EmbeddedDispatcher, ProcrastinateDispatcher
from billsync.engine.job_queue import JobQueue, owner_prefix
from billsync.engine.job_worker import JobWorker
from billsync.store import runs
from billsync.store.database import Database
from billsync.store.liveness import Liveness
from billsync.store.models import LiveOwner
from billsync.store.status import RunStatus
from billsync.store.vault import Vault
from tests.integration.conftest import _in_schema, _MigratedSchemas, _truncate_all
from tests.integration.engine.harness import Harness, harness_for

pytestmark = pytest.mark.postgres

WAIT = 30.0  # generous upper bound for CI on two shared cores; never a timing assertion


@pytest.fixture
async def pg(postgres_url: str, migrated_pg_schemas: _MigratedSchemas) -> AsyncIterator[Database]:
    db = Database(_in_schema(postgres_url, await migrated_pg_schemas.get(postgres_url)))
    try:
        await _truncate_all(db)
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def h(pg: Database, vault: Vault) -> AsyncIterator[Harness]:
    # Real time: procrastinate schedules jobs on the database's clock.
    harness = harness_for(pg, SystemClock(), vault)  # type: ignore[arg-type]
    harness.dispatcher = ProcrastinateDispatcher(JobQueue(pg.url))  # type: ignore[assignment]
    await harness.setup()
    try:
        yield harness
    finally:
        await harness.close()


def _worker(h: Harness, name: str, **kw: Any) -> JobWorker:
    dispatcher = h.dispatcher
    assert isinstance(dispatcher, ProcrastinateDispatcher)
    # Each worker has a queue (and pool) of its own, as separate processes would.
    own = ProcrastinateDispatcher(JobQueue(h.db.url))
    runner = h.runner(owner=name, dispatcher=own)
    options: dict[str, Any] = {"slots": 4, "poll_seconds": 0.1, "reap_seconds": 0.2}
    return JobWorker(h.db, runner, own, clock=h.clock, **(options | kw))


async def _jobs(db: Database) -> list[dict[str, Any]]:
    async with db.read() as session:
        rows = await session.execute(
            sa.text(
                "SELECT id, status::text AS status, args, scheduled_at, attempts "
                "FROM procrastinate_jobs ORDER BY id"
            )
        )
        return [dict(row._mapping) for row in rows]


async def _reach(h: Harness, run_id: int, status: RunStatus) -> None:
    async with asyncio.timeout(WAIT):
        while True:
            if await h.status(run_id) is status:
                return
            await asyncio.sleep(0.05)


async def test_a_job_commits_or_rolls_back_with_its_runs(h: Harness) -> None:
    flow_id = await h.flow()
    run_id = await h.queue(flow_id, entity="acct-A")
    assert [(j["status"], j["args"]) for j in await _jobs(h.db)] == [("todo", {"entity": "acct-A"})]

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with h.db.write() as session:
            await h.dispatcher.wake(session, [run_id])
            raise Boom
    assert len(await _jobs(h.db)) == 1  # the job deferred in the rolled-back transaction is gone


async def test_an_entity_with_a_waiting_job_gets_no_second_one(h: Harness) -> None:
    flow_id = await h.flow()
    first = await h.queue(flow_id, entity="acct-A")
    # The invoice run of the same account, in a later transaction: the waiting job will drain it.
    second = await h.queue(flow_id, entity="acct-A")
    assert [(j["status"], j["args"]) for j in await _jobs(h.db)] == [("todo", {"entity": "acct-A"})]
    async with _worker(h, "w1"):
        await _reach(h, second, RunStatus.SUCCEEDED)
    assert await h.status(first) is RunStatus.SUCCEEDED
    assert await _jobs(h.db) == []
    # A job a worker is fetching (locked) may be past its last claim by the time the next
    # run commits: that run gets a job of its own.
    await h.queue(flow_id, entity="acct-A")
    async with h.db.write() as fetching:
        await fetching.execute(sa.text("SELECT id FROM procrastinate_jobs FOR UPDATE"))
        await asyncio.wait_for(h.queue(flow_id, entity="acct-A"), timeout=WAIT)
    assert [j["args"] for j in await _jobs(h.db)] == [{"entity": "acct-A"}] * 2
    # A job scheduled for later (a retry's backoff) does not stand in for one due now.
    async with h.db.write() as session:
        await session.execute(sa.text("DELETE FROM procrastinate_jobs"))
        await h.dispatcher.queue.defer(session, [("acct-B", datetime(2999, 1, 1, tzinfo=UTC))])
    await h.queue(flow_id, entity="acct-B")
    jobs = await _jobs(h.db)
    assert [j["args"] for j in jobs] == [{"entity": "acct-B"}] * 2
    assert jobs[0]["scheduled_at"] is not None and jobs[1]["scheduled_at"] is None


async def test_entity_order_across_two_workers_and_a_retry_keeps_its_place(h: Harness) -> None:
    flow_id = await h.flow()
    runs: dict[str, list[int]] = {}
    for i in range(4):
        for entity in ("A", "B", "C"):
            key = f"{entity.lower()}{i}"
            runs.setdefault(entity, []).append(
                await h.queue(flow_id, entity=entity, payload={"key": key})
            )
    # a0 fails once (retried after its backoff); a1..a3 must still come after it.
    h.script.plan["a0"] = [errors.UnavailableError("503", app="dst")]
    # One slot each, and b0 cannot finish before c0 has started: the worker holding b0 is
    # blocked, so only the other one can start c0. Both workers take part, in parallel.
    h.script.gates["b0"] = h.script.started_event("c0")
    one, two = _worker(h, "w1", slots=1), _worker(h, "w2", slots=1)
    async with one, two:
        async with asyncio.timeout(WAIT):
            while True:
                await one.run_until_idle()
                statuses = {await h.status(r) for ids in runs.values() for r in ids}
                if statuses == {RunStatus.SUCCEEDED}:
                    break
                await asyncio.sleep(0.1)
    assert one.executed > 0 and two.executed > 0  # both workers took part
    order = h.script.order
    for entity in ("a", "b", "c"):
        mine = [e for e in order if e.split(":")[1].startswith(entity)]
        starts = [e for e in mine if e.startswith("start:")]
        # Never two runs of one entity at once, and in queue order.
        for before, after in zip(mine[0::2], mine[1::2], strict=True):
            assert before.startswith("start:") and after == "end:" + before[6:]
        expected = [f"start:{entity}{i}" for i in range(4)]
        if entity == "a":
            expected.insert(0, "start:a0")  # the failed attempt, then its retry
        assert starts == expected
    assert h.script.count("a0") == 2
    assert sum(h.script.count(f"{e}{i}") for e in "abc" for i in range(4)) == 13


async def test_a_retry_is_deferred_at_the_engine_backoff_time(h: Harness) -> None:
    flow_id = await h.flow()
    run_id = await h.queue(flow_id, entity="A", payload={"key": "a"})
    h.script.plan["a"] = [errors.RateLimitedError("429", app="dst", retry_after=30)]
    async with _worker(h, "w1") as worker:
        await _reach(h, run_id, RunStatus.RETRY_WAIT)
        run = await h.run(run_id)
        jobs = [j for j in await _jobs(h.db) if j["status"] == "todo"]
        assert run.next_attempt_at is not None
        assert [j["scheduled_at"] for j in jobs] == [run.next_attempt_at]
        assert run.next_attempt_at >= datetime.now(UTC).replace(microsecond=0)
        await asyncio.sleep(0.5)
        assert worker.executed == 1  # not before its time
    assert h.script.count("a") == 1


async def _taken_by_a_worker(h: Harness, *, heartbeat_age: str) -> int:
    """Register a procrastinate worker whose last heartbeat is `heartbeat_age` old and hand
    it the (only) job, as `doing`; the job's id."""
    async with h.db.write() as session:
        worker_id = (
            await session.execute(sa.text("SELECT procrastinate_register_worker_v1()"))
        ).scalar()
        await session.execute(
            sa.text(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - CAST(:age AS interval)"
            ),
            {"age": heartbeat_age},
        )
        return int(
            (
                await session.execute(
                    sa.text(
                        "UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w "
                        "RETURNING id"
                    ),
                    {"w": worker_id},
                )
            ).scalar_one()
        )


async def test_a_dead_workers_run_is_resumed_by_the_reaper(h: Harness) -> None:
    """A job in `doing` whose worker stopped its heartbeats (SIGKILL, as the e2e test does
    with real processes), holding a run leased for a minute: another worker releases the
    run at once and executes it, exactly once more (the dead call was ambiguous)."""
    flow_id = await h.flow()
    run_id = await h.queue(flow_id, entity="A", payload={"key": "a"})
    job_id = await _taken_by_a_worker(h, heartbeat_age="1 minute")
    await h.crash_during_call(
        run_id, "a", owner=f"{owner_prefix(job_id, 0)}dead:1", lease_seconds=60
    )
    assert await h.status(run_id) is RunStatus.RUNNING

    async with _worker(h, "w2", heartbeat_seconds=0.2, stalled_seconds=1.0) as worker:
        await _reach(h, run_id, RunStatus.SUCCEEDED)
        assert worker.reaped == 1
    calls = [c for c in h.script.calls if c.key == "a"]
    assert len(calls) == 2 and calls[1].after_ambiguous_failure


async def test_a_worker_whose_liveness_lock_is_gone_is_resumed_before_its_heartbeats_stale(
    h: Harness,
) -> None:
    """The dead worker's heartbeat is fresh (it died a moment ago) and stalled-job
    detection would wait a minute: its liveness lock, gone with its session, proves it dead,
    so the next reaper pass releases its run (with a job) and it runs again, once."""
    flow_id = await h.flow()
    run_id = await h.queue(flow_id, entity="A", payload={"key": "a"})
    job_id = await _taken_by_a_worker(h, heartbeat_age="0 seconds")
    other = Database(h.db.url)  # the dead worker's process: its own engine
    doomed = Liveness(other)
    try:
        await doomed.start("vm:1:dead", now=datetime.now(UTC))
        await h.crash_during_call(
            run_id, "a", owner=f"{owner_prefix(job_id, 0)}vm:1:dead", lease_seconds=60
        )
        assert doomed._conn is not None
        await doomed._conn.invalidate()  # the session ends, as when its process dies
        doomed._conn = None
        judge = Liveness(h.db)
        worker = _worker(h, "w2", heartbeat_seconds=0.2, stalled_seconds=60.0, liveness=judge)
        await judge.start(worker.owner, now=datetime.now(UTC))
        async with worker:
            await _reach(h, run_id, RunStatus.SUCCEEDED)
            assert worker.reaped == 0  # not the stalled-job path
        await judge.stop()
    finally:
        await other.dispose()
    calls = [c for c in h.script.calls if c.key == "a"]
    assert len(calls) == 2 and calls[1].after_ambiguous_failure
    async with h.db.read() as session:
        owners = (await session.execute(sa.select(LiveOwner.owner))).scalars().all()
    assert "vm:1:dead" not in owners  # forgotten once its runs were released


async def test_runnable_runs_without_a_job_get_one(h: Harness) -> None:
    """Runs queued under the embedded dispatcher (then the setting changed) are found by
    the worker's reconciler at start and executed."""
    flow_id = await h.flow()
    procrastinate = h.dispatcher
    h.dispatcher = EmbeddedDispatcher()
    run_id = await h.queue(flow_id, entity="A", payload={"key": "a"})
    h.dispatcher = procrastinate
    assert await _jobs(h.db) == []
    async with _worker(h, "w1") as worker:
        async with asyncio.timeout(WAIT):
            await worker.run_until_idle()
    assert await h.status(run_id) is RunStatus.SUCCEEDED


async def test_stop_releases_a_cut_off_run_with_a_job(h: Harness) -> None:
    flow_id = await h.flow()
    run_id = await h.queue(flow_id, entity="A", payload={"key": "a"})
    h.script.gates["a"] = asyncio.Event()  # never opened: the run outlives the grace period
    worker = _worker(h, "w1", shutdown_grace_seconds=0.1)
    await worker.start()
    async with asyncio.timeout(WAIT):
        await h.script.started_event("a").wait()
    await worker.stop()
    assert await h.status(run_id) is RunStatus.QUEUED
    assert [j["args"] for j in await _jobs(h.db) if j["status"] == "todo"] == [{"entity": "A"}]
    h.script.gates.pop("a").set()
    async with _worker(h, "w2") as other:
        async with asyncio.timeout(WAIT):
            await other.run_until_idle()
    assert await h.status(run_id) is RunStatus.SUCCEEDED


async def test_cancelling_a_waiting_head_run_lets_the_next_one_go(h: Harness) -> None:
    """What `app.runs.cancel` does: the cancel and the entity's wake-up in one transaction;
    the job is due at once (a cancelled run has no retry time to wait for)."""
    flow_id = await h.flow()
    a1 = await h.queue(flow_id, entity="A", payload={"key": "a1"})
    a2 = await h.queue(flow_id, entity="A", payload={"key": "a2"})
    h.script.plan["a1"] = [errors.RateLimitedError("429", app="dst", retry_after=3600)]
    async with _worker(h, "w1") as worker:
        await _reach(h, a1, RunStatus.RETRY_WAIT)
        async with asyncio.timeout(WAIT):
            await worker.run_until_idle()
        assert await h.status(a2) is RunStatus.QUEUED  # held behind the waiting retry
        async with h.db.write() as session:
            assert await runs.cancel(session, a1, now=h.clock.now())
            await h.dispatcher.wake(session, [a1])
        await _reach(h, a2, RunStatus.SUCCEEDED)
    assert await h.status(a1) is RunStatus.CANCELLED
    assert h.script.count("a1") == 1
