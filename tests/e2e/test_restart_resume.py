"""A `billsync serve` killed with SIGKILL mid-burst and started again resumes its
predecessor's runs at once (its liveness lock proved the old owner dead), not when their
60-second leases expire; every effect still happens exactly once."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from billsync.store.models import Run
from tests.e2e.harness import Stack, eventually
from tests.e2e.test_resilience import _assert_exactly_once, _create

pytestmark = pytest.mark.e2e

#: The default lease: a run held by a dead process would wait this long without the proof.
LEASE_SECONDS = 60


async def _leases(stack: Stack) -> dict[int, str | None]:
    """Running runs → their lease owner."""
    assert stack.db is not None
    async with stack.db.read() as session:
        rows = await session.execute(
            sa.select(Run.id, Run.lease_owner).where(Run.status == "running")
        )
        return {row[0]: row[1] for row in rows}


CASES = [
    pytest.param("sqlite", "embedded"),
    pytest.param("postgres", "embedded", marks=pytest.mark.postgres),
    pytest.param("postgres", "procrastinate", marks=pytest.mark.postgres),
]


@pytest.mark.parametrize(("backend", "dispatcher"), CASES)
async def test_a_restarted_serve_resumes_a_killed_ones_runs_at_once(
    stack: Stack, backend: str, dispatcher: str
) -> None:
    stack.stop_billsync()
    # Production's lease and expiry check; on procrastinate, stalled-job detection far
    # slower than the bound below, so only the liveness proof can meet it.
    stack.extra_env = {
        "BILLSYNC_LEASE_SECONDS": str(LEASE_SECONDS),
        "BILLSYNC_HEARTBEAT_SECONDS": "15",
        "BILLSYNC_RECONCILE_SECONDS": "30",
    }
    if backend == "postgres":
        stack.extra_env["BILLSYNC_DISPATCHER"] = dispatcher
    if dispatcher == "procrastinate":
        stack.extra_env["BILLSYNC_JOB_HEARTBEAT_SECONDS"] = "10"
        stack.extra_env["BILLSYNC_STALLED_WORKER_SECONDS"] = "40"
    stack.start_billsync()
    # Slow Razorpay down so the kill lands while runs are in flight.
    await stack.set_faults(latency_ms=300)
    made = await _create(stack, "restart", 6)

    async def some_running() -> bool:
        return bool(await _leases(stack))

    await eventually(some_running, "runs to be in flight")
    stack.kill_billsync()
    held = await _leases(stack)
    assert held, "no run was in flight at the kill"
    killed_at = time.monotonic()
    stack.start_billsync()

    async def resumed() -> bool:
        # Each run the dead process held is no longer held by it: queued again, taken by
        # the new process, or done.
        now = await _leases(stack)
        return all(now.get(run_id) != owner for run_id, owner in held.items())

    # Not after 60 s (the lease), nor after 40 s (a stalled procrastinate worker): the runs
    # the killed process held are queued again as serve starts.
    await eventually(resumed, "the killed process's runs to resume", within=LEASE_SECONDS / 3)
    assert time.monotonic() - killed_at < LEASE_SECONDS / 3
    log = (stack.workdir / "billsync.log").read_text(errors="replace")
    assert "resumed the runs of stopped workers" in log
    await stack.clear_faults()
    await stack.wait_settled(12, within=LEASE_SECONDS / 2)
    await _assert_exactly_once(stack, made, paid=False)
