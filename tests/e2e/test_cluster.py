"""Scale-out on PostgreSQL: `billsync serve --no-worker` plus two `billsync worker` OS
processes on the procrastinate dispatcher. A burst syncs exactly once with per-account
order; a worker SIGKILLed mid-burst has its runs resumed by the other, exactly once."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from tests.e2e.harness import Stack, eventually
from tests.e2e.test_resilience import _assert_exactly_once, _create, _pay_all

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


@pytest.fixture
def backend() -> str:
    return "postgres"


@pytest.fixture
def cluster(stack: Stack) -> Iterator[Stack]:
    """serve restarted with --no-worker (procrastinate, PostgreSQL's default dispatcher,
    named explicitly), then two worker processes (the harness starts and stops them)."""
    stack.stop_billsync()
    # Leases of a minute (the default), so a dead worker's runs come back through the
    # reaper, not through lease expiry (FAST has 3 s leases).
    stack.extra_env = {
        "BILLSYNC_DISPATCHER": "procrastinate",
        "BILLSYNC_LEASE_SECONDS": "60",
        "BILLSYNC_HEARTBEAT_SECONDS": "15",
    }
    stack.workers = 2
    stack.start_billsync()
    health = httpx.get(f"{stack.billsync_url}/healthz", timeout=5).json()
    assert health["worker"] is False and health["poller"] is True
    yield stack


async def _lease_owners(stack: Stack) -> list[str]:
    assert stack.db is not None
    async with stack.db.read() as session:
        rows = await session.execute(
            sa.text("SELECT lease_owner FROM run WHERE status = 'running'")
        )
        return [str(owner) for owner in rows.scalars()]


async def _order_violations(stack: Stack) -> list[str]:
    """Runs of one entity whose attempts overlap or run out of id order: for each pair of
    consecutive runs of an entity, every attempt of the older one must have finished
    before the younger one's first attempt started."""
    assert stack.db is not None
    async with stack.db.read() as session:
        rows = (
            await session.execute(
                sa.text(
                    "SELECT r.entity_key, r.id, min(a.started_at), max(a.finished_at), "
                    "bool_or(a.finished_at IS NULL) FROM run r JOIN step_attempt a "
                    "ON a.run_id = r.id GROUP BY r.entity_key, r.id ORDER BY r.entity_key, r.id"
                )
            )
        ).all()
    bad = []
    for (entity, older, _, ended, open_attempt), (entity2, younger, began, _, _) in zip(
        rows, rows[1:], strict=False
    ):
        if entity == entity2 and (open_attempt or ended > began):
            bad.append(f"{entity}: run {older} ended {ended}, run {younger} began {began}")
    return bad


async def test_a_burst_on_two_workers_syncs_exactly_once_in_account_order(
    stack: Stack, cluster: Stack
) -> None:
    await stack.set_faults(error_rate=0.2, error_status=503, seed=13)
    made = await _create(stack, "cl", 8)
    await stack.wait_settled(16, within=90)
    await _pay_all(stack, made)
    await stack.wait_settled(24, within=90)
    await stack.clear_faults()
    await _assert_exactly_once(stack, made, paid=True)
    assert await _order_violations(stack) == []
    assert all(p.poll() is None for p in cluster.worker_procs), cluster.worker_logs()


async def test_sigkill_one_worker_mid_burst_the_other_finishes_exactly_once(
    stack: Stack, cluster: Stack
) -> None:
    await stack.set_faults(latency_ms=150)
    made = await _create(stack, "clkill", 8)
    victim = cluster.worker_procs[0]

    async def victim_holds_runs() -> bool:
        return any(f":{victim.pid}:" in owner for owner in await _lease_owners(stack))

    await eventually(victim_holds_runs, "the first worker to hold runs", within=60)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)

    async def taken_over() -> bool:
        return not any(f":{victim.pid}:" in o for o in await _lease_owners(stack))

    # Leases last 60 s here: only the reaper can hand the dead worker's runs over sooner,
    # once its liveness lock is gone (at once) or its heartbeats stale (8 s). The bound is
    # generous for CI; the figure is measured by bench/scale_out.py, not asserted.
    await eventually(taken_over, "the dead worker's runs to be taken over", within=40)

    async def logged_by_liveness() -> bool:
        # The reaper logs after its release commits (the release is what taken_over saw).
        return "resumed the runs of stopped workers" in cluster.worker_logs(tail=10**7)

    await eventually(logged_by_liveness, "the liveness path to log the takeover", within=10)
    await stack.wait_settled(16, within=60)
    await stack.clear_faults()
    await _assert_exactly_once(stack, made, paid=False)
    assert cluster.worker_procs[1].poll() is None, cluster.worker_logs()
