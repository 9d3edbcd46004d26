"""`billsync serve --worker-processes`: runs execute in separate `billsync worker`
processes, exactly once, and the workers neither outlive serve nor stay dead."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import SERVE_BACKENDS
from tests.e2e.harness import Stack, eventually
from tests.e2e.test_resilience import _assert_exactly_once, _create, _pay_all

pytestmark = pytest.mark.e2e


def _workers_of(serve_pid: int) -> set[int]:
    """Live `billsync worker` processes started by that serve (found by their argv)."""
    found = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"worker" in argv and b"--parent-pid" in argv:
            if argv[argv.index(b"--parent-pid") + 1] == str(serve_pid).encode():
                found.add(int(cmdline.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too (reaped by init later).
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return stat[0] != "Z"


def _restart_with_workers(stack: Stack, count: int) -> set[int]:
    stack.stop_billsync()
    stack.extra_env = {"BILLSYNC_WORKER_PROCESSES": str(count)}
    stack.start_billsync()
    assert stack.proc is not None
    health = httpx.get(f"{stack.billsync_url}/healthz", timeout=5).json()
    # serve's own worker is off: every run below is executed by a worker process.
    assert health["worker"] is False
    deadline = time.monotonic() + 10
    while len(workers := _workers_of(stack.proc.pid)) < count:
        assert time.monotonic() < deadline, f"workers did not start: {stack.log_tail()}"
        time.sleep(0.05)
    return workers


@pytest.mark.parametrize("backend", SERVE_BACKENDS)
async def test_worker_processes_sync_exactly_once_under_faults(stack: Stack) -> None:
    workers = _restart_with_workers(stack, 2)
    assert len(workers) == 2
    await stack.set_faults(error_rate=0.3, error_status=503, lost_response_rate=0.05, seed=5)
    made = await _create(stack, "wp", 6)
    await stack.wait_settled(12, within=120)
    await _pay_all(stack, made)
    await stack.wait_settled(18, within=120)
    await stack.clear_faults()
    await _assert_exactly_once(stack, made, paid=True)


async def test_workers_stop_when_serve_is_killed_and_a_restart_completes(stack: Stack) -> None:
    workers = _restart_with_workers(stack, 1)
    await stack.set_faults(latency_ms=100)
    made = await _create(stack, "wpkill", 6)

    async def some_done() -> bool:
        return (await stack.run_counts()).get("succeeded", 0) >= 2

    await eventually(some_done, "the burst to be under way")
    stack.kill_billsync()
    # Their stdin pipe closes with serve: they finish or release their runs and exit.
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in workers):
        assert time.monotonic() < deadline, "worker processes outlived serve"
        await asyncio.sleep(0.1)
    counts = await stack.run_counts()
    assert counts.get("running", 0) == 0, f"a worker left leases behind: {counts}"
    assert counts.get("succeeded", 0) < 12, f"the burst finished before the kill: {counts}"
    stack.start_billsync()
    await stack.clear_faults()
    await stack.wait_settled(12, within=120)
    await _assert_exactly_once(stack, made, paid=False)


async def test_a_dead_worker_process_is_replaced(stack: Stack) -> None:
    [worker] = _restart_with_workers(stack, 1)
    assert stack.proc is not None
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while not (_workers_of(stack.proc.pid) - {worker}):
        assert time.monotonic() < deadline, f"no worker replaced {worker}: {stack.log_tail()}"
        await asyncio.sleep(0.1)
    made = await _create(stack, "wprespawn", 2)
    await stack.wait_settled(4, within=60)
    await _assert_exactly_once(stack, made, paid=False)
