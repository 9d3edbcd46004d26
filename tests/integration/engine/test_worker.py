"""The embedded worker: per-entity order, parallelism, wake-ups, reconciler, graceful stop."""

from __future__ import annotations

import asyncio

from billsync import errors
from billsync.store import leases
from billsync.store.status import RunStatus
from tests.integration.engine.harness import Harness

WAIT = 15.0  # generous upper bound for CI on two shared cores; never a timing assertion


async def test_runs_of_one_entity_in_order_others_in_parallel(h: Harness) -> None:
    flow_id = await h.flow()
    a1 = await h.queue(flow_id, entity="acct-A", payload={"key": "a1"})
    a2 = await h.queue(flow_id, entity="acct-A", payload={"key": "a2"})
    b1 = await h.queue(flow_id, entity="acct-B", payload={"key": "b1"})
    # a1 cannot finish until b1 has started: only parallel execution gets past this.
    h.script.gates["a1"] = h.script.started_event("b1")

    async with h.worker(slots=4, poll_seconds=0.05) as worker:
        async with asyncio.timeout(WAIT):
            await worker.run_until_idle()

    assert [await h.status(r) for r in (a1, a2, b1)] == [RunStatus.SUCCEEDED] * 3
    order = h.script.order
    assert order.index("end:a1") < order.index("start:a2")
    assert order.index("start:b1") < order.index("end:a1")


async def test_a_waiting_retry_holds_back_later_runs_of_its_entity(h: Harness) -> None:
    flow_id = await h.flow()
    a1 = await h.queue(flow_id, entity="A", payload={"key": "a1"})
    a2 = await h.queue(flow_id, entity="A", payload={"key": "a2"})
    h.script.plan["a1"] = [errors.DependencyNotReadyError("account not synced", app="dst")]
    async with h.worker(poll_seconds=0.05) as worker:
        async with asyncio.timeout(WAIT):
            await worker.run_until_idle()
        assert (await h.status(a1), await h.status(a2)) == (RunStatus.RETRY_WAIT, RunStatus.QUEUED)
        h.clock.advance(600)
        async with asyncio.timeout(WAIT):
            await worker.run_until_idle()
    assert (await h.status(a1), await h.status(a2)) == (RunStatus.SUCCEEDED, RunStatus.SUCCEEDED)
    assert h.script.order.index("end:a1", 2) < h.script.order.index("start:a2")


async def test_notify_wakes_the_worker_without_waiting_for_the_poll(h: Harness) -> None:
    flow_id = await h.flow()
    # The fallback poll is far longer than the test bound: only notify() can wake it.
    async with h.worker(poll_seconds=3600, reconcile_seconds=3600) as worker:
        await asyncio.sleep(0)
        run_id = await h.queue(flow_id, payload={"key": "k"})  # calls dispatcher.notify()
        async with asyncio.timeout(WAIT):
            await h.script.started_event("k").wait()
            await worker.run_until_idle()
        assert await h.status(run_id) is RunStatus.SUCCEEDED
        assert worker.executed == 1
    assert h.dispatcher.woken == 1


async def test_reconciler_requeues_a_dead_workers_run(h: Harness) -> None:
    flow_id = await h.flow()
    run_id = await h.queue(flow_id, payload={"key": "k"})
    async with h.db.write() as session:
        assert (
            await leases.claim_next(
                session, owner="crashed-host:1", now=h.clock.now(), lease_seconds=60
            )
            == run_id
        )
    h.clock.advance(61)
    async with h.worker(poll_seconds=0.05) as worker:
        async with asyncio.timeout(WAIT):
            await worker.run_until_idle()
    run = await h.run(run_id)
    assert run.status == RunStatus.SUCCEEDED and run.attempt == 2
    assert h.script.count("k") == 1


async def test_graceful_stop_releases_unfinished_runs(h: Harness) -> None:
    flow_id = await h.flow()
    run_id = await h.queue(flow_id, payload={"key": "k"})
    h.script.gates["k"] = asyncio.Event()  # never set: the call hangs
    worker = h.worker(poll_seconds=0.05)
    await worker.start()
    async with asyncio.timeout(WAIT):
        await h.script.started_event("k").wait()
    assert worker.in_flight == {run_id}
    await worker.stop(grace_seconds=0.01)

    run = await h.run(run_id)
    assert run.status == RunStatus.QUEUED and run.lease_owner is None
    # The interrupted call may have reached the app: the next attempt must know.
    h.script.gates.pop("k").set()
    assert await h.runner().execute(run_id) is RunStatus.SUCCEEDED
    assert [c.after_ambiguous_failure for c in h.script.calls] == [False, True]


async def test_stop_releases_runs_claimed_but_never_started(h: Harness) -> None:
    # Given a run leased under the worker's owner that never reached a slot, as when a claim
    # commits just as shutdown cancels the claim loop
    flow_id = await h.flow()
    run_id = await h.queue(flow_id, payload={"key": "k"})
    worker = h.worker(poll_seconds=60)
    async with h.db.write() as session:
        claimed = await leases.claim_many(
            session, owner=worker.owner, now=h.clock.now(), lease_seconds=60, limit=1
        )
    assert claimed == [run_id]
    await worker.start()  # its lease is live: neither the reconciler nor a claim touches it
    assert worker.in_flight == frozenset()
    # When the worker stops
    await worker.stop(grace_seconds=0.01)
    # Then nothing stays leased by it: the run is queued again at once
    run = await h.run(run_id)
    assert run.status == RunStatus.QUEUED and run.lease_owner is None
    assert h.script.count("k") == 0


async def test_slots_bound_concurrency(h: Harness) -> None:
    flow_id = await h.flow()
    gate = asyncio.Event()
    ids = []
    for n in range(4):
        ids.append(await h.queue(flow_id, entity=f"E{n}", payload={"key": f"k{n}"}))
        h.script.gates[f"k{n}"] = gate
    worker = h.worker(slots=2, poll_seconds=0.05)
    await worker.start()
    try:
        async with asyncio.timeout(WAIT):
            await h.script.wait_calls(2)
        await asyncio.sleep(0.1)  # give a (wrong) third claim the chance to happen
        assert len(h.script.calls) == 2 and len(worker.in_flight) == 2
        gate.set()
        async with asyncio.timeout(WAIT):
            await worker.run_until_idle()
    finally:
        await worker.stop()
    assert [await h.status(r) for r in ids] == [RunStatus.SUCCEEDED] * 4


async def test_two_workers_share_the_queue_without_double_execution(h: Harness) -> None:
    flow_id = await h.flow()
    queued: dict[str, list[str]] = {}
    for n in range(12):
        entity = f"acct-{n % 3}"
        key = f"{entity}-{n}"
        queued.setdefault(entity, []).append(key)
        await h.queue(flow_id, entity=entity, payload={"key": key})
    first = h.worker(h.runner(owner="w1"), slots=2, poll_seconds=0.02)
    second = h.worker(h.runner(owner="w2"), slots=2, poll_seconds=0.02)
    await first.start()
    await second.start()
    try:
        async with asyncio.timeout(WAIT):
            await first.run_until_idle()
            await second.run_until_idle()
    finally:
        await first.stop()
        await second.stop()

    assert sorted(c.key for c in h.script.calls) == sorted(k for ks in queued.values() for k in ks)
    assert first.executed + second.executed == 12
    for keys in queued.values():
        starts = [h.script.order.index(f"start:{k}") for k in keys]
        ends = [h.script.order.index(f"end:{k}") for k in keys]
        # Each run of an entity starts only after the previous one ended.
        assert all(ends[i] < starts[i + 1] for i in range(len(keys) - 1))


async def test_more_slots_than_pooled_connections_and_a_cold_cache(h: Harness) -> None:
    """Every slot starts a run at once with no connection row cached: a run's transaction
    must not need a second pooled connection (PostgreSQL's pool holds 5 + 10), or the slots
    wait on each other until the pool times out."""
    flow_id = await h.flow(h.step("one", input={"key": "event.key"}), h.step("two"))
    run_ids = [
        await h.queue(flow_id, entity=f"acct-{n}", payload={"key": f"k{n}"}) for n in range(24)
    ]
    async with h.worker(slots=24, poll_seconds=0.05) as worker:
        async with asyncio.timeout(WAIT):
            await worker.run_until_idle()
    assert [await h.status(r) for r in run_ids] == [RunStatus.SUCCEEDED] * 24
