"""The reconciliation schedule, on a FakeClock (nothing sleeps on wall time): a bound pair
is reconciled once per interval, counted from its newest reconciliation or from when the
schedule started; only the serving process runs it; a reconciliation whose process died
is marked failed. The comparison is a test-only in-memory Reconciler."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from pydantic import SecretStr

from billsync.app import App, build
from billsync.clock import FakeClock
from billsync.config import Settings
from billsync.engine.reconcile.model import ConnectionPair
from billsync.store import connections
from billsync.store import reconciliations as store
from billsync.store.reconciliations import Origin
from billsync.store.vault import Vault
from tests.api.conftest import _drop_pg_schema, _pg_url
from tests.fake_reconciler import FakeReconciler

HOUR = 3600.0


async def _pair(app: App) -> ConnectionPair:
    async with app.db.write() as session:
        togai = await connections.create(
            session, app.vault, app="togai", name="T", secrets={}, now=app.clock.now()
        )
        razorpay = await connections.create(
            session, app.vault, app="razorpay", name="R", secrets={}, now=app.clock.now()
        )
    return ConnectionPair(togai.id, razorpay.id)


def _app(tmp_path: Path, clock: FakeClock, every: float = HOUR) -> App:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{quote(str(tmp_path / 'schedule.db'))}",
        secret_keys=SecretStr(Vault.generate_key()),
        reconcile_every=every,
    )
    return build(settings, clock=clock)


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[App, FakeClock, FakeReconciler]]:
    clock = FakeClock()
    app = _app(tmp_path, clock)
    await app.migrate()
    fake = FakeReconciler([await _pair(app)])
    app.reconciliations.reconciler = fake
    yield app, clock, fake
    await app.stop()


async def test_a_bound_pair_is_reconciled_once_per_interval(
    setup: tuple[App, FakeClock, FakeReconciler],
) -> None:
    app, clock, fake = setup
    schedule = app.reconcile_schedule
    assert await schedule.tick() == []  # never reconciled: counts from now
    clock.advance(HOUR - 1)
    assert await schedule.tick() == []
    clock.advance(1)
    first = await schedule.tick()
    assert len(first) == 1
    await app.reconciliations.wait()
    row = await app.reconciliations.get(first[0])
    assert (row.status, row.origin, row.actor, row.since) == (
        "succeeded",
        "schedule",
        "schedule",
        None,
    )
    assert row.drift == 7
    assert await schedule.tick() == []
    clock.advance(HOUR / 2)
    # A reconciliation started by hand counts too: the next one is an interval after it.
    manual = await app.reconciliations.start(origin=Origin.API, actor="api:ops")
    await app.reconciliations.wait()
    clock.advance(HOUR / 2)
    assert await schedule.tick() == []
    clock.advance(HOUR / 2)
    second = await schedule.tick()
    assert len(second) == 1 and second[0] > manual[0].id
    await app.reconciliations.wait()
    assert len(fake.compared) == 3
    assert schedule.ticks == 6


async def test_a_pair_still_running_is_not_started_again(
    setup: tuple[App, FakeClock, FakeReconciler],
) -> None:
    app, clock, fake = setup
    fake.gate = asyncio.Event()
    await app.reconcile_schedule.tick()
    clock.advance(HOUR)
    started = await app.reconcile_schedule.tick()
    clock.advance(2 * HOUR)
    assert await app.reconcile_schedule.tick() == []  # still running: not started twice
    fake.gate.set()
    await app.reconciliations.wait()
    assert len(fake.compared) == 1
    assert (await app.reconciliations.get(started[0])).status == "succeeded"


async def test_an_interval_of_zero_switches_the_schedule_off(tmp_path: Path) -> None:
    clock = FakeClock()
    app = _app(tmp_path, clock, every=0)
    app.reconciliations.reconciler = FakeReconciler([])
    await app.start(worker=False, poller=True)
    try:
        assert not app.reconcile_schedule.running
        clock.advance(400 * 24 * HOUR)
        assert await app.reconcile_schedule.tick() == []
    finally:
        await app.stop()


@pytest.mark.parametrize(
    ("worker", "poller", "runs"),
    [
        (True, True, True),  # billsync serve
        (False, True, True),  # serve with worker processes
        (True, False, False),  # billsync worker
    ],
)
async def test_only_the_serving_process_runs_the_schedule(
    tmp_path: Path, worker: bool, poller: bool, runs: bool
) -> None:
    app = _app(tmp_path, FakeClock())
    app.reconciliations.reconciler = FakeReconciler([])
    await app.start(worker=worker, poller=poller)
    try:
        assert app.reconcile_schedule.running is runs
    finally:
        await app.stop()
    assert not app.reconcile_schedule.running


async def test_a_reconciliation_left_running_by_a_dead_process_is_marked_failed(
    setup: tuple[App, FakeClock, FakeReconciler],
) -> None:
    app, clock, _fake = setup
    pair = (await app.reconciliations.bound_pairs())[0]
    async with app.db.write() as session:
        row = await store.create(
            session,
            togai_connection_id=pair.togai_id,
            razorpay_connection_id=pair.razorpay_id,
            since=None,
            origin=Origin.CLI,
            actor="cli",
            now=clock.now(),
        )
    clock.advance(60)
    assert await app.reconciliations.recover() == []  # still fresh
    clock.advance(5 * 60)
    assert await app.reconciliations.recover() == [row.id]
    failed = await app.reconciliations.get(row.id)
    assert failed.status == "failed" and failed.error is not None
    assert "interrupted" in failed.error


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{quote(str(tmp_path / 'shared.db'))}"
        return
    base = request.getfixturevalue("postgres_url")
    url, schema = await _pg_url(base)
    try:
        yield url
    finally:
        await _drop_pg_schema(base, schema)


async def test_two_serving_processes_on_one_database_start_a_due_pair_once(
    shared_url: str,
) -> None:
    clock = FakeClock()
    key = SecretStr(Vault.generate_key())
    apps = [
        build(Settings(database_url=shared_url, secret_keys=key, reconcile_every=HOUR), clock=clock)
        for _ in range(2)
    ]
    await apps[0].migrate()
    pair = await _pair(apps[0])
    fakes = [FakeReconciler([pair]), FakeReconciler([pair])]
    for app, fake in zip(apps, fakes, strict=True):
        app.reconciliations.reconciler = fake
    try:
        for app in apps:
            assert await app.reconcile_schedule.tick() == []
        for round_ in range(3):
            clock.advance(HOUR)
            started = await asyncio.gather(*(app.reconcile_schedule.tick() for app in apps))
            assert sum(len(ids) for ids in started) == 1, (round_, started)
            for app in apps:
                await app.reconciliations.wait()
        assert sum(len(f.compared) for f in fakes) == 3
        # The window between one process's check and its start: the other process has
        # started and even finished the pair meanwhile, so the start is dropped.
        late = await apps[1].reconciliations.open(
            pair,
            since=None,
            origin=Origin.SCHEDULE,
            actor="schedule",
            unless_started_after=clock.now() - timedelta(seconds=HOUR),
        )
        assert late == (None, False)
    finally:
        for app in apps:
            await app.stop()


def test_the_interval_is_a_setting_daily_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    assert Settings().reconcile_every == 86400
    monkeypatch.setenv("BILLSYNC_RECONCILE_EVERY", "0")
    assert Settings().reconcile_every == 0
    monkeypatch.setenv("BILLSYNC_RECONCILE_EVERY", "-5")
    with pytest.raises(ValueError, match="reconcile_every"):
        Settings()
