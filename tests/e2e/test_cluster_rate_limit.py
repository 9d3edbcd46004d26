"""Several billsync processes on one PostgreSQL database: two `billsync serve` (the
embedded claimer), or `serve --no-worker` and two `billsync worker` (procrastinate).

They share one Togai connection limited to R requests/s, and the Togai sandbox allows R/s:
the processes together take their tokens from one bucket in the database, so the sandbox
answers no 429, and every effect happens exactly once. And two serves poll each connection
once per interval between them, not once each."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from billsync.store.models import Connection
from tests.e2e.harness import Stack
from tests.e2e.test_resilience import _assert_exactly_once, _create
from tests.servers import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

#: Togai's documented default limit, on the connection and at the sandbox alike.
RATE = 10
#: Accounts (each with an invoice): enough Togai writes to keep both processes busy for
#: seconds, far beyond the sandbox's one-second burst.
N = 30


def _start_serve(stack: Stack, port: int) -> subprocess.Popen[bytes]:
    """Another `billsync serve` on the stack's database (the way the stack starts its own)."""
    log = (stack.workdir / f"billsync-{port}.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "billsync", "serve", "--port", str(port), "--db", stack.db_url],
        env=stack.env(),
        cwd=stack.workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, "the second billsync serve exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the second billsync serve did not start"
        time.sleep(0.05)


@pytest.fixture
def second_serve(stack: Stack) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _togai_429s(stack: Stack) -> int:
    assert stack.togai is not None
    stats = (await stack.togai.get("/_sandbox/stats")).json()["requests"]
    return sum(counts.get("429", 0) for counts in stats.values())


async def _limit_togai(stack: Stack) -> dict[str, str]:
    """With billsync stopped: the Togai connection limited to RATE, N accounts with an invoice
    each made, then the Togai sandbox limited to RATE too; the accounts made."""
    stack.stop_billsync()
    assert stack.db is not None and stack.togai is not None
    async with stack.db.write() as session:
        await session.execute(
            sa.update(Connection)
            .where(Connection.id == stack.togai_connection)
            .values(rate_limit=RATE)
        )
    # The accounts and invoices exist before billsync runs (their webhooks retry meanwhile),
    # so every request the limited sandbox sees from here on is billsync's.
    made = await _create(stack, "rl", N)
    assert await _togai_429s(stack) == 0
    r = await stack.togai.post("/_sandbox/faults", json={"rate_limit": RATE})
    assert r.status_code == 200, r.text
    return made


async def _no_429_and_exactly_once(stack: Stack, made: dict[str, str]) -> None:
    await stack.wait_settled(2 * N, within=120)
    assert await _togai_429s(stack) == 0
    # The checks below read the sandboxes through their (then unlimited) API.
    await stack.clear_faults()
    await _assert_exactly_once(stack, made, paid=False)


@pytest.mark.parametrize("backend", ["postgres"])
async def test_two_processes_share_one_togai_rate_limit(
    stack: Stack, second_serve: list[subprocess.Popen[bytes]]
) -> None:
    made = await _limit_togai(stack)
    stack.extra_env = {"BILLSYNC_DISPATCHER": "embedded"}
    stack.start_billsync()
    second_serve.append(_start_serve(stack, free_port()))
    # Each process alone paces at the connection's limit: without the shared bucket the two
    # together send twice the sandbox's limit and meet 429s (measured: 5 with a bucket each).
    await _no_429_and_exactly_once(stack, made)
    assert second_serve[0].poll() is None and stack.proc is not None and stack.proc.poll() is None


@pytest.mark.parametrize("backend", ["postgres"])
async def test_two_workers_share_one_togai_rate_limit(stack: Stack) -> None:
    """The same with `serve --no-worker` and two `billsync worker` processes (procrastinate)."""
    made = await _limit_togai(stack)
    stack.extra_env = {"BILLSYNC_DISPATCHER": "procrastinate"}
    stack.workers = 2
    stack.start_billsync()
    await _no_429_and_exactly_once(stack, made)
    assert all(p.poll() is None for p in stack.worker_procs), stack.worker_logs()


async def _payment_list_reads(stack: Stack) -> int:
    """Razorpay `GET /v1/payments` calls so far: one per catch-up poll while none exist."""
    assert stack.razorpay is not None
    stats = (await stack.razorpay.get("/_sandbox/stats")).json()["requests"]
    return sum(
        n
        for route, counts in stats.items()
        if "/v1/payments" in route
        for status, n in counts.items()
        if status == "200"
    )


@pytest.mark.parametrize("backend", ["postgres"])
async def test_two_processes_poll_a_connection_once_per_interval(
    stack: Stack, second_serve: list[subprocess.Popen[bytes]]
) -> None:
    # The Razorpay connection's catch-up walk runs every second (the stack's option); its
    # list read is one request per poll while there are no payments.
    second_serve.append(_start_serve(stack, free_port()))
    await asyncio.sleep(2)  # both processes past their first polls
    before, started = await _payment_list_reads(stack), time.monotonic()
    await asyncio.sleep(8)
    polls = await _payment_list_reads(stack) - before
    seconds = time.monotonic() - started
    # One process alone polls at most once a second; two without the claim poll twice as
    # often. Between them: once per interval (+1 for a poll in flight at either end).
    assert 0.5 * seconds <= polls <= seconds + 1, (polls, seconds)
