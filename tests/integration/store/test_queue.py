"""The run table as a queue: dedupe, per-entity FIFO claims, lease CAS, reconciler."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billsync.clock import FakeClock
from billsync.domain import IncomingEvent
from billsync.store import events, leases, runs
from billsync.store.database import Database
from billsync.store.status import EventStatus, RunStatus
from billsync.store.vault import Vault
from tests.integration.store import seed

LEASE = 60.0


@pytest.fixture
async def ids(db: Database, vault: Vault, clock: FakeClock) -> tuple[int, int]:
    return await seed.connection(db, vault, clock), await seed.flow(db, clock)


async def _claim(db: Database, clock: FakeClock, owner: str = "w1") -> int | None:
    async with db.write() as session:
        return await leases.claim_next(session, owner=owner, now=clock.now(), lease_seconds=LEASE)


async def test_event_and_run_are_stored_once(
    db: Database, clock: FakeClock, ids: tuple[int, int]
) -> None:
    conn_id, flow_id = ids
    incoming = IncomingEvent(
        trigger="account.created",
        event_type="account.created",
        external_id="account:a1:created",
        entity_key="togai-account:a1",
        payload={"account": {"id": "a1"}},
    )
    async with db.write() as session:
        first = await events.insert(session, conn_id, incoming, now=clock.now())
        second = await events.insert(session, conn_id, incoming, now=clock.now())
        assert first is not None and second is None
        run = await runs.create(
            session,
            flow_id=flow_id,
            flow_version=1,
            event_id=first.id,
            entity_key=incoming.entity_key,
            now=clock.now(),
        )
        again = await runs.create(
            session,
            flow_id=flow_id,
            flow_version=1,
            event_id=first.id,
            entity_key=incoming.entity_key,
            now=clock.now(),
        )
        assert run is not None and again is None
    async with db.read() as session:
        stored = await events.by_external_id(session, conn_id, "account:a1:created")
        assert stored is not None and stored.payload == {"account": {"id": "a1"}}
        assert stored.status == EventStatus.RECEIVED
        assert [r.id for r in await runs.for_event(session, stored.id)] == [run.id]


async def test_claims_are_fifo_per_entity_and_parallel_across(
    db: Database, clock: FakeClock, ids: tuple[int, int]
) -> None:
    conn_id, flow_id = ids
    a1 = await seed.queued_run(
        db, clock, connection_id=conn_id, flow_id=flow_id, external_id="1", entity_key="A"
    )
    a2 = await seed.queued_run(
        db, clock, connection_id=conn_id, flow_id=flow_id, external_id="2", entity_key="A"
    )
    b1 = await seed.queued_run(
        db, clock, connection_id=conn_id, flow_id=flow_id, external_id="3", entity_key="B"
    )

    assert await _claim(db, clock) == a1.id
    # A's second run waits for the first; B is free.
    assert await _claim(db, clock) == b1.id
    assert await _claim(db, clock) is None

    async with db.write() as session:
        assert await runs.succeed(session, a1.id, owner="w1", now=clock.now())
    assert await _claim(db, clock) == a2.id


async def test_retry_wait_holds_the_entity_until_due(
    db: Database, clock: FakeClock, ids: tuple[int, int]
) -> None:
    conn_id, flow_id = ids
    a1 = await seed.queued_run(
        db, clock, connection_id=conn_id, flow_id=flow_id, external_id="1", entity_key="A"
    )
    a2 = await seed.queued_run(
        db, clock, connection_id=conn_id, flow_id=flow_id, external_id="2", entity_key="A"
    )
    assert await _claim(db, clock) == a1.id
    async with db.write() as session:
        await runs.schedule_retry(
            session,
            a1.id,
            owner="w1",
            now=clock.now(),
            at=clock.now() + timedelta(seconds=30),
            error="503",
        )
    assert await _claim(db, clock) is None  # a2 must not overtake a1
    clock.advance(31)
    assert await _claim(db, clock) == a1.id
    async with db.write() as session:
        await runs.fail(session, a1.id, owner="w1", now=clock.now(), error="400", dead=False)
    # A permanently failed run releases its entity.
    assert await _claim(db, clock) == a2.id


async def test_lease_compare_and_set(db: Database, clock: FakeClock, ids: tuple[int, int]) -> None:
    conn_id, flow_id = ids
    run = await seed.queued_run(
        db, clock, connection_id=conn_id, flow_id=flow_id, external_id="1", entity_key="A"
    )

    async def take(owner: str) -> bool:
        async with db.write() as session:
            return await leases.take_lease(
                session, run.id, owner=owner, now=clock.now(), lease_seconds=LEASE
            )

    assert await take("x")
    assert not await take("y")  # leased and not expired
    assert await take("x")  # the holder may re-take its own lease
    clock.advance(LEASE + 1)
    assert await take("y")  # expired: taken over
    async with db.read() as session:
        row = await runs.get(session, run.id)
        assert row is not None and row.lease_owner == "y" and row.attempt == 2
    async with db.write() as session:
        # The old holder can no longer finish the run.
        assert not await runs.succeed(session, run.id, owner="x", now=clock.now())
        assert await runs.succeed(session, run.id, owner="y", now=clock.now())
    assert not await take("x")  # a succeeded run is never leased again


async def test_reconciler_requeues_expired_leases_only(
    db: Database, clock: FakeClock, ids: tuple[int, int]
) -> None:
    conn_id, flow_id = ids
    a = await seed.queued_run(
        db, clock, connection_id=conn_id, flow_id=flow_id, external_id="1", entity_key="A"
    )
    await seed.queued_run(
        db, clock, connection_id=conn_id, flow_id=flow_id, external_id="2", entity_key="B"
    )
    assert await _claim(db, clock, "dead-worker") == a.id
    clock.advance(LEASE / 2)
    b = await _claim(db, clock, "live-worker")
    assert b is not None
    clock.advance(LEASE / 2 + 1)
    async with db.write() as session:
        held = await leases.renew_leases(
            session, [b, a.id], owner="live-worker", now=clock.now(), lease_seconds=LEASE
        )
        assert held == {b}
        assert await leases.reconcile_expired(session, now=clock.now()) == [a.id]
    async with db.read() as session:
        row = await runs.get(session, a.id)
        assert row is not None and row.status == RunStatus.QUEUED and row.lease_owner is None
    assert await _claim(db, clock, "w2") == a.id


async def test_replay_and_cancel_follow_the_transition_table(
    db: Database, clock: FakeClock, ids: tuple[int, int]
) -> None:
    conn_id, flow_id = ids
    a = await seed.queued_run(
        db, clock, connection_id=conn_id, flow_id=flow_id, external_id="1", entity_key="A"
    )
    b = await seed.queued_run(
        db, clock, connection_id=conn_id, flow_id=flow_id, external_id="2", entity_key="B"
    )
    async with db.write() as session:
        assert not await runs.replay(session, a.id, now=clock.now())  # queued: nothing to replay
        assert await runs.cancel(session, b.id, now=clock.now())
        assert not await runs.cancel(session, b.id, now=clock.now())
        assert not await runs.replay(session, b.id, now=clock.now())
    assert await _claim(db, clock) == a.id
    async with db.write() as session:
        assert not await runs.cancel(session, a.id, now=clock.now())  # running
        assert await runs.fail(session, a.id, owner="w1", now=clock.now(), error="boom", dead=True)
        assert await events.mark_processed_if_done(session, a.event_id)
    async with db.write() as session:
        assert await runs.replay(session, a.id, now=clock.now())
        event = await events.get(session, a.event_id)
        assert event is not None
        await session.refresh(event)
        assert event.status == EventStatus.RECEIVED
    async with db.read() as session:
        row = await runs.get(session, a.id)
        assert row is not None and row.status == RunStatus.QUEUED and row.finished_at is None
        assert row.last_error == "boom"
