"""Two `billsync serve` processes on one PostgreSQL database, both taking Togai's webhooks
(a load balancer in front): a burst spread over both is re-fetched once at the Togai
sandbox, not once per process; every event is stored once and no hint is left."""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter

import httpx
import pytest
import sqlalchemy as sa

from billsync.app import build
from billsync.app import connections as connection_ops
from billsync.store import connections, hints
from billsync.store.models import Event
from tests.e2e.harness import Stack, eventually
from tests.e2e.test_cluster_rate_limit import _start_serve, second_serve
from tests.servers import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

__all__ = ["second_serve"]  # the fixture, imported for pytest

#: Accounts in the burst (one list page).
N = 12
#: Each Togai call takes this long, so the two processes' rounds would overlap.
LATENCY_MS = 400


async def _togai_calls(stack: Stack) -> Counter[str]:
    assert stack.togai is not None
    stats = (await stack.togai.get("/_sandbox/stats")).json()["requests"]
    return Counter({route: sum(c.values()) for route, c in stats.items()})


async def _togai_hook_path(stack: Stack) -> str:
    app = build(stack.settings())
    try:
        async with app.db.read() as session:
            row = await connections.get(session, stack.togai_connection)
        assert row is not None
        url = connection_ops.webhook_url(app, row, reveal=True)
    finally:
        await app.stop()
    return url.removeprefix(stack.billsync_url)


def _account_hint(account_id: str) -> dict[str, object]:
    return {"type": "account.created", "data": {"entityType": "ACCOUNT", "entityId": account_id}}


async def _hints_left(stack: Stack) -> int:
    assert stack.db is not None
    async with stack.db.read() as session:
        return await hints.count(session)


@pytest.mark.parametrize("backend", ["postgres"])
async def test_two_serves_refetch_a_burst_once(
    stack: Stack, second_serve: list[subprocess.Popen[bytes]]
) -> None:
    # No flow on accounts: its runs would read accounts too, and its poll would store the
    # accounts itself; the count at the sandbox is then the hint resolution's alone.
    await stack.set_template_enabled("togai-account-to-razorpay-customer", False)
    port = free_port()
    second_serve.append(_start_serve(stack, port))
    path = await _togai_hook_path(stack)
    assert stack.togai is not None
    # The sandbox's own deliveries are not sent: the test delivers the hints itself.
    faults = {"latency_ms": LATENCY_MS, "webhook_failure_rate": 1.0}
    r = await stack.togai.post("/_sandbox/faults", json=faults)
    assert r.status_code == 200, r.text
    ids = [f"twin-{i:02d}" for i in range(N)]
    for account_id in ids:
        await stack.new_account(account_id)
    before = await _togai_calls(stack)

    # The burst spread over both processes: each wakes for its own deliveries, and a round
    # takes every hint waiting in the database.
    urls = [f"{stack.billsync_url}{path}", f"http://127.0.0.1:{port}{path}"]
    async with httpx.AsyncClient(timeout=10) as http:
        answers = await asyncio.gather(
            *(
                http.post(urls[n % 2], json=_account_hint(account_id))
                for n, account_id in enumerate(ids)
            )
        )
    assert [a.json()["hints"] for a in answers] == [1] * N, [a.text for a in answers]

    async def resolved() -> bool:
        return await _hints_left(stack) == 0

    await eventually(resolved, "the hints resolved", within=30)

    calls = await _togai_calls(stack) - before
    # One round re-fetched the burst, one list page for all twelve (each account once), as
    # one process alone does; without the hint claim both processes swept the list. (The
    # invoice flows' polls list invoices meanwhile.)
    accounts = {route: n for route, n in calls.items() if route.startswith("GET /accounts")}
    assert accounts == {"GET /accounts": 1}, calls
    assert stack.db is not None
    async with stack.db.read() as session:
        result = await session.execute(
            sa.select(Event.external_id).where(Event.connection_id == stack.togai_connection)
        )
        stored = Counter(result.scalars().all())
    assert stored == Counter({f"account:{i}:created": 1 for i in ids})
    assert second_serve[0].poll() is None and stack.proc is not None and stack.proc.poll() is None
