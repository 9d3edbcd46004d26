"""Runner semantics: step results, retries, failures, replay, mappings, the lease CAS."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from billsync import errors
from billsync.domain import IdLink, LinkKind, Side
from billsync.engine import mapping
from billsync.store import events, mappings, runs
from billsync.store.status import AttemptOutcome, EventStatus, RunStatus, StepStatus
from tests.integration.engine.harness import Harness


async def test_success_stores_output_mapping_and_attempt_in_one_go(h: Harness) -> None:
    flow_id = await h.flow(h.step("customer", input={"link_to": "'cus_9'"}))
    run_id = await h.queue(flow_id, payload={"key": "acc_9"})

    assert await h.runner().execute(run_id) is RunStatus.SUCCEEDED

    (step,) = (await h.steps(run_id)).values()
    assert step.status == StepStatus.SUCCEEDED and step.action == "dst.echo"
    assert step.input == {"key": "acc_9", "value": None, "link_to": "cus_9"}
    assert step.output == {"key": "acc_9", "value": None, "call": 1}
    (attempt,) = await h.attempts(run_id)
    assert attempt.outcome == AttemptOutcome.SUCCEEDED and attempt.finished_at is not None
    assert [c.idempotency_key for c in h.script.calls] == [f"{run_id}:0"]
    async with h.db.read() as session:
        assert await mappings.find(session, LinkKind.ACCOUNT_CUSTOMER, Side.TOGAI, "acc_9") == (
            "cus_9"
        )
        (row,) = await mappings.list_recent(session)
        assert row.run_id == run_id
        run = await runs.get(session, run_id)
        assert run is not None
        event = await events.get(session, run.event_id)
        assert event is not None and event.status == EventStatus.PROCESSED
    run = await h.run(run_id)
    assert run.lease_owner is None and run.finished_at is not None


async def test_later_steps_read_earlier_outputs(h: Harness) -> None:
    flow_id = await h.flow(
        h.step("first", input={"value": "'v1'"}),
        h.step("second", action="second", input={"key": "'k2'", "value": "steps.first.value"}),
    )
    run_id = await h.queue(flow_id)
    assert await h.runner().execute(run_id) is RunStatus.SUCCEEDED
    assert (await h.steps(run_id))[1].output == {"key": "k2", "value": "v1", "call": 1}


async def test_retry_with_backoff_then_success(h: Harness) -> None:
    flow_id = await h.flow()
    run_id = await h.queue(flow_id, payload={"key": "k"})
    h.script.plan["k"] = [
        errors.UnavailableError("503", app="dst"),
        errors.RateLimitedError("429", retry_after=4.0, app="dst"),
        None,
    ]
    runner = h.runner()

    assert await runner.execute(run_id) is RunStatus.RETRY_WAIT
    run = await h.run(run_id)
    assert run.next_attempt_at is not None and run.next_attempt_at >= h.clock.now()
    assert run.last_error is not None and "UnavailableError" in run.last_error
    # Not due yet: nobody may execute it.
    if run.next_attempt_at > h.clock.now():
        assert await runner.execute(run_id) is None

    h.clock.set(run.next_attempt_at)
    assert await runner.execute(run_id) is RunStatus.RETRY_WAIT
    run = await h.run(run_id)
    assert run.next_attempt_at is not None
    # Retry-After is a floor for the delay.
    assert run.next_attempt_at - h.clock.now() >= timedelta(seconds=4)

    h.clock.set(run.next_attempt_at)
    assert await runner.execute(run_id) is RunStatus.SUCCEEDED
    assert h.script.count("k") == 3
    # Not ambiguous, yet every retry knows an earlier attempt exists (create_invoice then
    # searches its natural key; a first attempt does not).
    assert [c.after_ambiguous_failure for c in h.script.calls] == [False, False, False]
    assert [c.earlier_attempt for c in h.script.calls] == [False, True, True]
    outcomes = [a.outcome for a in await h.attempts(run_id)]
    assert outcomes == ["retry", "retry", "succeeded"]
    assert (await h.run(run_id)).attempt == 3


async def test_ambiguous_failure_is_passed_to_the_next_attempt(h: Harness) -> None:
    flow_id = await h.flow()
    run_id = await h.queue(flow_id, payload={"key": "k"})
    h.script.plan["k"] = [errors.UnavailableError("timeout", ambiguous=True, app="dst"), None]
    runner = h.runner()
    assert await runner.execute(run_id) is RunStatus.RETRY_WAIT
    h.clock.advance(60)
    assert await runner.execute(run_id) is RunStatus.SUCCEEDED
    assert [c.after_ambiguous_failure for c in h.script.calls] == [False, True]
    assert [a.ambiguous for a in await h.attempts(run_id)] == [True, False]


async def test_permanent_failure_fails_the_run_at_once(h: Harness) -> None:
    flow_id = await h.flow()
    run_id = await h.queue(flow_id, payload={"key": "k"})
    h.script.plan["k"] = [errors.RejectedError("bad email", app="dst", field="email")]
    assert await h.runner().execute(run_id) is RunStatus.FAILED
    assert h.script.count() == 1
    step = (await h.steps(run_id))[0]
    assert step.status == StepStatus.FAILED and step.error is not None and "bad email" in step.error
    (attempt,) = await h.attempts(run_id)
    assert attempt.outcome == AttemptOutcome.FAILED and attempt.error_class == "RejectedError"


async def test_exhausted_retries_make_the_run_dead(h: Harness) -> None:
    flow_id = await h.flow()
    run_id = await h.queue(flow_id, payload={"key": "k"})
    h.script.plan["k"] = [errors.UnavailableError("503", app="dst")] * 3
    runner = h.runner()
    statuses = []
    for _ in range(3):
        statuses.append(await runner.execute(run_id))
        h.clock.advance(60)
    assert statuses == [RunStatus.RETRY_WAIT, RunStatus.RETRY_WAIT, RunStatus.DEAD]
    assert h.script.count("k") == 3
    assert await runner.execute(run_id) is None  # dead runs are not executed again
    assert (await h.steps(run_id))[0].status == StepStatus.DEAD


async def test_unexpected_exception_is_retried_as_a_system_error(h: Harness) -> None:
    flow_id = await h.flow()
    run_id = await h.queue(flow_id, payload={"key": "k"})
    h.script.plan["k"] = [KeyError("our bug"), None]
    runner = h.runner()
    assert await runner.execute(run_id) is RunStatus.RETRY_WAIT
    run = await h.run(run_id)
    assert run.last_error is not None and "our bug" not in run.last_error
    h.clock.advance(60)
    assert await runner.execute(run_id) is RunStatus.SUCCEEDED


async def test_replay_resumes_after_the_succeeded_step(h: Harness) -> None:
    flow_id = await h.flow(
        h.step("first", input={"key": "'a'"}),
        h.step("second", action="second", input={"key": "'b'", "value": "steps.first.key"}),
    )
    run_id = await h.queue(flow_id)
    h.script.plan["b"] = [errors.RejectedError("refused", app="dst")]
    runner = h.runner()
    assert await runner.execute(run_id) is RunStatus.FAILED
    assert (h.script.count("a"), h.script.count("b")) == (1, 1)

    async with h.db.write() as session:
        assert await runs.replay(session, run_id, now=h.clock.now())
    assert await runner.execute(run_id) is RunStatus.SUCCEEDED
    # The succeeded step was not executed again; its stored output fed the second step.
    assert (h.script.count("a"), h.script.count("b")) == (1, 2)
    assert (await h.steps(run_id))[1].output == {"key": "b", "value": "a", "call": 2}


async def test_when_false_and_skip_event_skip_the_step_only(h: Harness) -> None:
    flow_id = await h.flow(
        h.step("never", when="event.flag", input={"key": "'never'"}),
        h.step("skips", input={"key": "'skips'"}),
        h.step("last", action="second", input={"key": "'last'"}),
    )
    run_id = await h.queue(flow_id, payload={"flag": False})
    h.script.plan["skips"] = [errors.SkipEventError("not for us", app="dst")]
    assert await h.runner().execute(run_id) is RunStatus.SUCCEEDED
    rows = await h.steps(run_id)
    assert [rows[i].status for i in range(3)] == ["skipped", "skipped", "succeeded"]
    assert h.script.count("never") == 0 and h.script.count("last") == 1


async def test_bad_input_fails_permanently_without_calling(h: Harness) -> None:
    flow_id = await h.flow(h.step("one", input={"key": "event.missing"}))
    run_id = await h.queue(flow_id, payload={})
    assert await h.runner().execute(run_id) is RunStatus.FAILED
    assert h.script.count() == 0
    (attempt,) = await h.attempts(run_id)
    assert attempt.error_class == "RejectedError"


async def test_conflicting_mapping_fails_the_step(h: Harness) -> None:
    async with h.db.write() as session:
        await mapping.write_links(
            session,
            [IdLink(LinkKind.ACCOUNT_CUSTOMER, "acc_1", "cus_OLD")],
            run_id=None,
            now=h.clock.now(),
        )
    flow_id = await h.flow(h.step("customer", input={"link_to": "'cus_NEW'"}))
    run_id = await h.queue(flow_id, payload={"key": "acc_1"})
    assert await h.runner().execute(run_id) is RunStatus.FAILED
    step = (await h.steps(run_id))[0]
    assert step.status == StepStatus.FAILED
    assert step.error is not None and "already mapped" in step.error
    (attempt,) = await h.attempts(run_id)
    assert attempt.error_class == "MappingError"
    async with h.db.read() as session:
        assert await mappings.find(session, LinkKind.ACCOUNT_CUSTOMER, Side.TOGAI, "acc_1") == (
            "cus_OLD"
        )


async def test_write_links_is_idempotent_and_rejects_conflicts(h: Harness) -> None:
    link = IdLink(LinkKind.INVOICE_INVOICE, "inv_1", "rzinv_1")
    async with h.db.write() as session:
        await mapping.write_links(session, [link], run_id=None, now=h.clock.now())
        await mapping.write_links(session, [link], run_id=None, now=h.clock.now())
    for conflicting in (
        IdLink(LinkKind.INVOICE_INVOICE, "inv_1", "rzinv_2"),
        IdLink(LinkKind.INVOICE_INVOICE, "inv_2", "rzinv_1"),
    ):
        with pytest.raises(errors.MappingError):
            async with h.db.write() as session:
                await mapping.write_links(session, [conflicting], run_id=None, now=h.clock.now())
    async with h.db.read() as session:
        assert len(await mappings.list_recent(session)) == 1


async def test_two_executors_one_run_only_one_executes(h: Harness) -> None:
    flow_id = await h.flow()
    run_id = await h.queue(flow_id, payload={"key": "k"})
    h.script.gates["k"] = asyncio.Event()
    first, second = h.runner(owner="one"), h.runner(owner="two")

    task = asyncio.create_task(first.execute(run_id))
    await asyncio.wait_for(h.script.started_event("k").wait(), timeout=10)
    assert await second.execute(run_id) is None
    h.script.gates["k"].set()
    assert await asyncio.wait_for(task, timeout=10) is RunStatus.SUCCEEDED
    assert h.script.count("k") == 1
    assert await second.execute(run_id) is None


async def test_interrupted_attempt_is_treated_as_ambiguous(h: Harness) -> None:
    """An executor died mid-call: its attempt stays 'running' and its lease expires."""
    flow_id = await h.flow()
    run_id = await h.queue(flow_id, payload={"key": "k"})
    await h.crash_during_call(run_id, "k")

    survivor = h.runner(owner="survivor")
    assert await survivor.execute(run_id) is None  # the lease has not expired yet
    h.clock.advance(31)
    assert await survivor.execute(run_id) is RunStatus.SUCCEEDED
    assert [c.after_ambiguous_failure for c in h.script.calls] == [False, True]
    assert [a.outcome for a in await h.attempts(run_id)] == ["interrupted", "succeeded"]


async def test_heartbeat_keeps_the_lease_of_a_long_step(h: Harness) -> None:
    flow_id = await h.flow()
    run_id = await h.queue(flow_id, payload={"key": "k"})
    h.script.gates["k"] = asyncio.Event()
    slow = h.runner(owner="slow", lease_seconds=30, heartbeat_seconds=0.01)
    task = asyncio.create_task(slow.execute(run_id))
    await asyncio.wait_for(h.script.started_event("k").wait(), timeout=10)
    first_expiry = (await h.run(run_id)).lease_expires_at
    h.clock.advance(25)
    renewed = first_expiry
    for _ in range(1000):  # bounded: the heartbeat runs every 10 ms
        await asyncio.sleep(0.01)
        renewed = (await h.run(run_id)).lease_expires_at
        if renewed != first_expiry:
            break
    assert renewed is not None and first_expiry is not None and renewed > first_expiry
    h.clock.advance(25)  # past the first lease, within the renewed one
    assert await h.runner(owner="other").execute(run_id) is None
    h.script.gates["k"].set()
    assert await asyncio.wait_for(task, timeout=10) is RunStatus.SUCCEEDED


async def test_a_runner_that_lost_its_lease_stops_before_the_next_step(h: Harness) -> None:
    flow_id = await h.flow(
        h.step("first", input={"key": "'a'"}),
        h.step("second", action="second", input={"key": "'b'"}),
    )
    run_id = await h.queue(flow_id)
    gate = h.script.gates["a"] = asyncio.Event()
    stalled = h.runner(owner="stalled", lease_seconds=30, heartbeat_seconds=3600)
    stalled_task = asyncio.create_task(stalled.execute(run_id))
    await asyncio.wait_for(h.script.started_event("a").wait(), timeout=10)

    h.clock.advance(31)  # the stalled executor's lease expires; another one takes over
    taker = h.runner(owner="taker")
    taker_task = asyncio.create_task(taker.execute(run_id))
    await asyncio.wait_for(h.script.wait_calls(2), timeout=10)
    gate.set()

    assert await asyncio.wait_for(stalled_task, timeout=10) is None
    assert await asyncio.wait_for(taker_task, timeout=10) is RunStatus.SUCCEEDED
    # The first step ran twice (the lease expired mid-call: the ambiguous case the actions'
    # natural keys absorb), the second only once, by the lease holder.
    assert (h.script.count("a"), h.script.count("b")) == (2, 1)
    assert [c.after_ambiguous_failure for c in h.script.calls if c.key == "a"] == [False, True]


async def test_replay_of_a_dead_run_gets_a_fresh_retry_budget(h: Harness) -> None:
    flow_id = await h.flow()
    run_id = await h.queue(flow_id, payload={"key": "k"})
    h.script.plan["k"] = [errors.UnavailableError("503", app="dst")] * 4
    runner = h.runner()
    for _ in range(3):
        await runner.execute(run_id)
        h.clock.advance(60)
    assert await h.status(run_id) is RunStatus.DEAD

    async with h.db.write() as session:
        assert await runs.replay(session, run_id, now=h.clock.now())
    # One more transient failure is retried, not dead at once; then it succeeds.
    assert await runner.execute(run_id) is RunStatus.RETRY_WAIT
    h.clock.advance(60)
    assert await runner.execute(run_id) is RunStatus.SUCCEEDED
    assert [a.attempt for a in await h.attempts(run_id)] == [1, 2, 3, 4, 5]


async def test_cancel_marks_the_event_processed(h: Harness) -> None:
    flow_id = await h.flow()
    run_id = await h.queue(flow_id, payload={"key": "k"})
    async with h.db.write() as session:
        assert await runs.cancel(session, run_id, now=h.clock.now())
    run = await h.run(run_id)
    async with h.db.read() as session:
        event = await events.get(session, run.event_id)
    assert event is not None and event.status == EventStatus.PROCESSED
    assert await h.runner().execute(run_id) is None
    assert h.script.count() == 0


async def test_next_attempt_is_recorded_with_the_previous_result(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step's result transaction also records the skips after it and the next attempt,
    and the transaction that reads the run records the first attempt: one write
    transaction per executed step, plus the lease's."""
    flow_id = await h.flow(
        h.step("first", input={"key": "'a'"}),
        h.step("never", when="event.flag", input={"key": "'never'"}),
        h.step("last", action="second", input={"key": "'b'", "value": "steps.first.key"}),
    )
    run_id = await h.queue(flow_id, payload={"flag": False})
    writes = 0
    original = h.db.write

    def counting_write(*args: object, **kw: object) -> object:
        nonlocal writes
        writes += 1
        return original(*args, **kw)  # type: ignore[arg-type]

    gate = h.script.gates["b"] = asyncio.Event()
    monkeypatch.setattr(h.db, "write", counting_write)
    task = asyncio.create_task(h.runner(owner="one").execute(run_id, leased=False))
    await asyncio.wait_for(h.script.started_event("b").wait(), timeout=10)
    # While the last step's call is in flight, its attempt is already durable.
    rows = await h.steps(run_id)
    assert [rows[i].status for i in range(3)] == ["succeeded", "skipped", "running"]
    assert [a.outcome for a in await h.attempts(run_id)] == ["succeeded", "running"]
    gate.set()
    assert await asyncio.wait_for(task, timeout=10) is RunStatus.SUCCEEDED
    # lease; run read + first attempt; first result + skip + last attempt; last result +
    # run end (no separate read transaction, no transaction of its own for any attempt)
    assert writes == 4
    rows = await h.steps(run_id)
    assert rows[2].output == {"key": "b", "value": "a", "call": 1}
    assert h.script.count("never") == 0


async def test_interrupted_attempt_begun_by_the_previous_step_is_ambiguous(h: Harness) -> None:
    flow_id = await h.flow(
        h.step("first", input={"key": "'a'"}),
        h.step("second", action="second", input={"key": "'b'"}),
    )
    run_id = await h.queue(flow_id)
    await h.crash_during_call(run_id, "b")  # the second step's call, begun by the first's

    h.clock.advance(31)
    assert await h.runner(owner="survivor").execute(run_id) is RunStatus.SUCCEEDED
    # The first step is never executed again; the second's lost call counts as ambiguous.
    assert (h.script.count("a"), h.script.count("b")) == (1, 2)
    assert [c.after_ambiguous_failure for c in h.script.calls if c.key == "b"] == [False, True]
    assert [c.earlier_attempt for c in h.script.calls] == [False, False, True]
    outcomes = [(a.idx, a.outcome) for a in await h.attempts(run_id)]
    assert outcomes == [(0, "succeeded"), (1, "interrupted"), (1, "succeeded")]
