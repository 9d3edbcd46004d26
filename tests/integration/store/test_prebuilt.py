"""The store's prebuilt hot-path statements on both backends: expanding IN lists with one and
many ids, claims with and without FOR UPDATE SKIP LOCKED, rowcount and RETURNING paths,
typed parameters (UTC timestamps, JSON, SQL NULL vs JSON null)."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
import sqlalchemy as sa

from billsync.clock import FakeClock
from billsync.domain import IdLink, IncomingEvent, LinkKind, Side
from billsync.store import events, flows, leases, mappings, runs, steps
from billsync.store.database import Database
from billsync.store.models import Run, RunStep, StepAttempt
from billsync.store.status import AttemptOutcome, EventStatus, RunStatus, StepStatus
from billsync.store.vault import Vault
from tests.integration.store import seed

LEASE = 60.0


@pytest.fixture
async def ids(db: Database, vault: Vault, clock: FakeClock) -> tuple[int, int]:
    return await seed.connection(db, vault, clock), await seed.flow(db, clock)


async def _runs(db: Database, clock: FakeClock, ids: tuple[int, int], n: int) -> list[int]:
    conn_id, flow_id = ids
    made = []
    for i in range(n):
        run = await seed.queued_run(
            db,
            clock,
            connection_id=conn_id,
            flow_id=flow_id,
            external_id=f"e{i}",
            entity_key=f"E{i}",
        )
        made.append(run.id)
    return made


async def _run(db: Database, run_id: int) -> Run:
    async with db.read() as session:
        run = await runs.get(session, run_id, fresh=True)
        assert run is not None
        return run


async def test_claim_many_limit_one_and_many(
    db: Database, clock: FakeClock, ids: tuple[int, int]
) -> None:
    run_ids = await _runs(db, clock, ids, 4)
    now = clock.now()
    async with db.write() as session:
        assert (
            await leases.claim_many(session, owner="w", now=now, lease_seconds=LEASE, limit=0) == []
        )
        assert await leases.claim_many(
            session, owner="w", now=now, lease_seconds=LEASE, limit=1
        ) == [run_ids[0]]
        assert (
            await leases.claim_many(session, owner="w", now=now, lease_seconds=LEASE, limit=10)
            == run_ids[1:]
        )
        assert (
            await leases.claim_many(session, owner="w", now=now, lease_seconds=LEASE, limit=10)
            == []
        )
    for run_id in run_ids:
        run = await _run(db, run_id)
        assert run.status == RunStatus.RUNNING and run.lease_owner == "w" and run.attempt == 1
        assert run.lease_expires_at == now + timedelta(seconds=LEASE)
        assert run.lease_expires_at.tzinfo is not None and run.updated_at == now


async def test_claim_skips_runs_not_yet_due(
    db: Database, clock: FakeClock, ids: tuple[int, int]
) -> None:
    [run_id] = await _runs(db, clock, ids, 1)
    async with db.write() as session:
        assert await leases.next_claimable(session, now=clock.now() - timedelta(seconds=5)) is None
        assert await leases.next_claimable(session, now=clock.now()) == run_id
        assert not await leases.has_work(session, now=clock.now() - timedelta(seconds=5))
        assert await leases.has_work(session, now=clock.now())


async def test_claim_locks_candidates_on_postgres(
    db: Database, clock: FakeClock, ids: tuple[int, int]
) -> None:
    """A second claimer in its own transaction skips the rows the first one has claimed."""
    run_ids = await _runs(db, clock, ids, 2)
    now = clock.now()
    async with db.write() as first:
        got = await leases.claim_many(first, owner="a", now=now, lease_seconds=LEASE, limit=1)
        assert got == [run_ids[0]]
        if not db.is_sqlite:  # SQLite serialises writers; PostgreSQL claimers run concurrently
            async with db.write() as second:
                other = await leases.claim_many(
                    second, owner="b", now=now, lease_seconds=LEASE, limit=5
                )
            assert other == [run_ids[1]]


async def test_has_work_sees_a_run_whose_claim_is_not_committed_yet(
    db: Database, clock: FakeClock, ids: tuple[int, int]
) -> None:
    """While a claimer holds its (uncommitted) claim, a reader still sees work: on
    PostgreSQL the claimable check once used FOR UPDATE SKIP LOCKED and skipped the locked
    run, so `Worker.run_until_idle` could return just before that run executed."""
    await _runs(db, clock, ids, 1)
    now = clock.now()
    async with db.write() as claimer:
        assert await leases.claim_many(claimer, owner="a", now=now, lease_seconds=LEASE, limit=1)
        async with db.read() as reader:
            assert await leases.has_work(reader, now=now)
    async with db.read() as reader:  # committed: the run is executing
        assert await leases.has_work(reader, now=now)


async def test_renew_leases_with_one_and_many_ids(
    db: Database, clock: FakeClock, ids: tuple[int, int]
) -> None:
    run_ids = await _runs(db, clock, ids, 3)
    async with db.write() as session:
        claimed = await leases.claim_many(
            session, owner="w", now=clock.now(), lease_seconds=LEASE, limit=2
        )
    assert claimed == run_ids[:2]
    later = clock.advance(10)
    async with db.write() as session:
        assert (
            await leases.renew_leases(session, [], owner="w", now=later, lease_seconds=LEASE)
            == set()
        )
        one = await leases.renew_leases(
            session, [run_ids[0]], owner="w", now=later, lease_seconds=LEASE
        )
        assert one == {run_ids[0]}
        many = await leases.renew_leases(
            session, set(run_ids), owner="w", now=later, lease_seconds=LEASE
        )
        assert many == set(run_ids[:2])  # the third one is not leased
        assert (
            await leases.renew_leases(session, run_ids, owner="x", now=later, lease_seconds=LEASE)
            == set()
        )
    run = await _run(db, run_ids[1])
    assert run.lease_expires_at == later + timedelta(seconds=LEASE)


async def test_take_lease_counts_attempts_and_holds_lease_checks_expiry(
    db: Database, clock: FakeClock, ids: tuple[int, int]
) -> None:
    [run_id] = await _runs(db, clock, ids, 1)

    async def take(owner: str) -> bool:
        async with db.write() as session:
            return await leases.take_lease(
                session, run_id, owner=owner, now=clock.now(), lease_seconds=LEASE
            )

    assert await take("x")
    assert (await _run(db, run_id)).attempt == 1
    assert await take("x")  # already mine: the attempt is not counted again
    assert (await _run(db, run_id)).attempt == 1
    assert not await take("y")
    async with db.read() as session:
        assert await leases.holds_lease(session, run_id, owner="x", now=clock.now())
        assert not await leases.holds_lease(session, run_id, owner="y", now=clock.now())
        expiry = clock.now() + timedelta(seconds=LEASE)
        assert await leases.holds_lease(session, run_id, owner="x", now=expiry)
        assert not await leases.holds_lease(
            session, run_id, owner="x", now=expiry + timedelta(seconds=1)
        )
    clock.advance(LEASE + 1)
    assert await take("y")  # expired: taken over, a new attempt
    run = await _run(db, run_id)
    assert run.lease_owner == "y" and run.attempt == 2


async def test_leaving_running_checks_the_owner_and_sets_fields(
    db: Database, clock: FakeClock, ids: tuple[int, int]
) -> None:
    a, b, c = await _runs(db, clock, ids, 3)
    async with db.write() as session:
        await leases.claim_many(session, owner="w", now=clock.now(), lease_seconds=LEASE, limit=3)
    now = clock.advance(1)
    at = now + timedelta(seconds=30)
    async with db.write() as session:
        assert not await runs.succeed(session, a, owner="other", now=now)
        assert await runs.succeed(session, a, owner="w", now=now)
        assert not await runs.succeed(session, a, owner="w", now=now)  # no longer running
        assert await runs.schedule_retry(session, b, owner="w", now=now, at=at, error="503")
        assert await runs.fail(session, c, owner="w", now=now, error="400", dead=True)
    done, waiting, dead = await _run(db, a), await _run(db, b), await _run(db, c)
    assert done.status == RunStatus.SUCCEEDED and done.finished_at == now
    assert done.lease_owner is None and done.lease_expires_at is None
    assert done.next_attempt_at is None and done.last_error is None and done.updated_at == now
    assert waiting.status == RunStatus.RETRY_WAIT and waiting.next_attempt_at == at
    assert waiting.finished_at is None and waiting.last_error == "503"
    assert dead.status == RunStatus.DEAD and dead.finished_at == now and dead.last_error == "400"


async def test_steps_save_update_and_insert_paths(
    db: Database, clock: FakeClock, ids: tuple[int, int]
) -> None:
    [run_id] = await _runs(db, clock, ids, 1)
    now = clock.now()
    common = {"step_id": "s", "action": "razorpay.create_customer", "connection_id": None}
    async with db.write() as session:
        # No row yet, no input: the fallback INSERT leaves input SQL NULL.
        count = await steps.save(
            session, run_id, 0, status=StepStatus.SKIPPED, now=now, finished=True, **common
        )
        assert count == 0
        # With input and a new attempt.
        count = await steps.save(
            session,
            run_id,
            1,
            status=StepStatus.RUNNING,
            now=now,
            input={"a": 1},
            new_attempt=True,
            **common,
        )
        assert count == 1
        # The UPDATE path: input kept when not given, attempts counted only for new attempts.
        later = clock.advance(1)
        count = await steps.save(
            session,
            run_id,
            1,
            status=StepStatus.SUCCEEDED,
            now=later,
            output={"id": "cust_1"},
            finished=True,
            **common,
        )
        assert count == 1
        count = await steps.save(
            session,
            run_id,
            1,
            status=StepStatus.RUNNING,
            now=later,
            input={"a": 2},
            new_attempt=True,
            **common,
        )
        assert count == 2
        await steps.insert_new(
            session,
            run_id,
            2,
            status=StepStatus.RUNNING,
            now=now,
            input=None,
            **common,
        )
    step = RunStep.__table__
    async with db.read() as session:
        rows = await steps.for_run(session, run_id)
        null_input = (
            await session.execute(
                sa.select(step.c.idx, step.c.input.is_(None)).where(step.c.run_id == run_id)
            )
        ).all()
    assert sorted(rows) == [0, 1, 2]
    assert rows[0].status == StepStatus.SKIPPED and rows[0].finished_at == now
    assert rows[0].attempts == 0 and rows[0].input is None and rows[0].started_at == now
    assert rows[1].input == {"a": 2} and rows[1].attempts == 2
    assert rows[1].output is None and rows[1].finished_at is None
    assert rows[2].attempts == 1 and rows[2].input is None
    # Omitted input is SQL NULL; a None value written through the JSON type is JSON null.
    assert dict(null_input)[0] is True
    assert dict(null_input)[2] is False


async def test_attempts_begin_finish_previous(
    db: Database, clock: FakeClock, ids: tuple[int, int]
) -> None:
    [run_id] = await _runs(db, clock, ids, 1)
    now = clock.now()
    async with db.write() as session:
        assert await steps.previous_attempt(session, run_id, 0) is None
        first = await steps.begin_attempt(session, run_id, 0, number=1, now=now)
        second = await steps.begin_attempt(session, run_id, 0, number=2, now=now)
        assert second > first
        previous = await steps.previous_attempt(session, run_id, 0)
        assert previous == steps.AttemptState(second, 2, AttemptOutcome.RUNNING.value, False)
        end = clock.advance(2)
        await steps.finish_attempt(
            session,
            second,
            outcome=AttemptOutcome.INTERRUPTED,
            now=end,
            error_class="X",
            message="m",
            ambiguous=True,
        )
        previous = await steps.previous_attempt(session, run_id, 0)
        assert previous == steps.AttemptState(second, 2, AttemptOutcome.INTERRUPTED.value, True)
    async with db.read() as session:
        rows = await steps.attempts(session, run_id, 0)
    assert [r.attempt for r in rows] == [1, 2]
    finished: StepAttempt = rows[1]
    assert finished.finished_at == end and finished.finished_at.tzinfo == UTC
    assert finished.error_class == "X" and finished.message == "m" and finished.ambiguous
    assert rows[0].finished_at is None and not rows[0].ambiguous


async def test_mappings_find_both_sides_and_insert_conflicts(
    db: Database, clock: FakeClock, ids: tuple[int, int]
) -> None:
    [run_id] = await _runs(db, clock, ids, 1)
    link = IdLink(LinkKind.ACCOUNT_CUSTOMER, "acc_1", "cust_1")
    async with db.write() as session:
        assert await mappings.find(session, link.kind, Side.TOGAI, "acc_1") is None
        assert await mappings.insert_new(session, link, run_id=run_id, now=clock.now())
        assert not await mappings.insert_new(session, link, run_id=run_id, now=clock.now())
        taken = IdLink(LinkKind.ACCOUNT_CUSTOMER, "acc_2", "cust_1")
        assert not await mappings.insert_new(session, taken, run_id=None, now=clock.now())
        other_kind = IdLink(LinkKind.INVOICE_INVOICE, "acc_1", "cust_1")
        assert await mappings.insert_new(session, other_kind, run_id=None, now=clock.now())
    async with db.read() as session:
        assert await mappings.find(session, link.kind, Side.TOGAI, "acc_1") == "cust_1"
        assert await mappings.find(session, link.kind, Side.RAZORPAY, "cust_1") == "acc_1"
        assert await mappings.find(session, link.kind, Side.RAZORPAY, "acc_1") is None
        assert await mappings.find(session, LinkKind.PAYMENT_PAYMENT, Side.TOGAI, "acc_1") is None


async def test_intake_statements(db: Database, clock: FakeClock, ids: tuple[int, int]) -> None:
    conn_id, flow_id = ids
    incoming = IncomingEvent(
        trigger=None,
        event_type="x.y",
        external_id="x1",
        entity_key="E",
        payload={"k": [1, "two"]},
        occurred_at=None,
    )
    async with db.write() as session:
        event_id = await events.insert_id(
            session, conn_id, incoming, now=clock.now(), status=EventStatus.IGNORED
        )
        assert event_id is not None
        assert await events.insert_id(session, conn_id, incoming, now=clock.now()) is None
        run_id = await runs.create_id(
            session,
            flow_id=flow_id,
            flow_version=1,
            event_id=event_id,
            entity_key="E",
            now=clock.now(),
        )
        assert run_id is not None
        again = await runs.create_id(
            session,
            flow_id=flow_id,
            flow_version=1,
            event_id=event_id,
            entity_key="E",
            now=clock.now(),
        )
        assert again is None
        stamps = await flows.enabled_current_stamps(session)
        stamp = await flows.version_stamp(session, flow_id, 1)
        assert await flows.version_stamp(session, flow_id, 2) is None
    assert stamp is not None and stamp[1].tzinfo is not None
    assert stamps == [(flow_id, 1, stamp)]
    async with db.read() as session:
        event = await events.get(session, event_id)
        assert event is not None and event.payload == {"k": [1, "two"]}
        assert event.trigger is None and event.occurred_at is None
        assert event.status == EventStatus.IGNORED
    run = await _run(db, run_id)
    assert (
        run.status == RunStatus.QUEUED and run.attempt == 0 and run.next_attempt_at == clock.now()
    )


async def test_mark_processed_if_done(db: Database, clock: FakeClock, ids: tuple[int, int]) -> None:
    conn_id, flow_id = ids
    second_flow = await seed.flow(db, clock, name="g")
    run = await seed.queued_run(
        db, clock, connection_id=conn_id, flow_id=flow_id, external_id="e", entity_key="E"
    )
    async with db.write() as session:
        other = await runs.create_id(
            session,
            flow_id=second_flow,
            flow_version=1,
            event_id=run.event_id,
            entity_key="E",
            now=clock.now(),
        )
        assert other is not None
        claimed = await leases.claim_many(
            session, owner="w", now=clock.now(), lease_seconds=LEASE, limit=1
        )
        assert claimed == [run.id]
        assert await runs.succeed(session, run.id, owner="w", now=clock.now())
        assert not await events.mark_processed_if_done(session, run.event_id)  # other unfinished
        assert await leases.take_lease(
            session, other, owner="w", now=clock.now(), lease_seconds=LEASE
        )
        assert await runs.fail(session, other, owner="w", now=clock.now(), error="e", dead=False)
        assert await events.mark_processed_if_done(session, run.event_id)
        assert not await events.mark_processed_if_done(session, run.event_id)  # already processed
        event = await events.get(session, run.event_id)
        assert event is not None and event.status == EventStatus.PROCESSED
