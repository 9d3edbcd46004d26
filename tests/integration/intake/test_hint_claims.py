"""Two processes taking webhooks on one database (two `billsync serve`s behind a load
balancer): a connection's hints are resolved by one of them at a time, so each hinted entity
is re-fetched once at Togai, not once per process; a process that finds the round taken
resolves what is left afterwards; and the pollers of both defer to webhooks either took."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from billsync.api.server import create_api
from billsync.app import App, build
from billsync.clock import FakeClock
from billsync.engine import hints as hints_engine
from billsync.store import events, hint_claims, hints, runs
from billsync.store.models import Connection, HintClaim
from tests.integration.intake.conftest import Env

#: Each Togai call takes this long, so the two processes' rounds overlap.
LATENCY_MS = 200


@dataclass
class Other:
    """A second billsync process on the same database and sandboxes."""

    app: App
    http: httpx.AsyncClient


@pytest.fixture
async def other(env: Env) -> AsyncIterator[Other]:
    def transport_for(connection: Connection) -> httpx.AsyncBaseTransport:
        return httpx.ASGITransport(app=env.togai if connection.app == "togai" else env.razorpay)

    app = build(env.app.settings, transport_for=transport_for)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_api(app)), base_url="http://b2.test"
    ) as http:
        yield Other(app, http)
    await app.stop()


async def _togai_calls(env: Env) -> Counter[str]:
    stats = (await env.togai_http.get("/_sandbox/stats")).json()
    return Counter({route: sum(c.values()) for route, c in stats["requests"].items()})


async def _slow_togai(env: Env, latency_ms: int = LATENCY_MS) -> None:
    r = await env.togai_http.post("/_sandbox/faults", json={"latency_ms": latency_ms})
    assert r.status_code == 200, r.text


def _account_hint(account_id: str) -> dict[str, Any]:
    return {"type": "account.created", "data": {"entityType": "ACCOUNT", "entityId": account_id}}


async def _stored(env: Env) -> tuple[Counter[str], int, int]:
    """(external id → events stored, runs, hints left)."""
    async with env.app.db.read() as session:
        stored = Counter(e.external_id for e in await events.list_recent(session, limit=1000))
        run_count = sum((await runs.count_by_status(session)).values())
        left = await hints.count(session)
    return stored, run_count, left


async def test_two_resolvers_given_one_burst_fetch_it_once(env: Env, other: Other) -> None:
    ids = [f"pair-{i:02d}" for i in range(12)]
    for account_id in ids:
        await env.new_account(account_id)
    # The load balancer spreads the burst over both processes.
    for n, account_id in enumerate(ids):
        http = env.http if n % 2 else other.http
        r = await http.post(env.togai_hook, json=_account_hint(account_id))
        assert r.json()["hints"] == 1, r.text
    await _slow_togai(env)
    before = await _togai_calls(env)

    # Both rounds at once: one process takes the connection's round, the other finds it taken.
    resolved = await asyncio.gather(env.app.hints.resolve_once(), other.app.hints.resolve_once())

    assert sorted(resolved) == [0, 12]
    assert env.app.hints.elsewhere + other.app.hints.elsewhere == 1
    # One list page re-fetched the twelve accounts, as one process alone does
    # (test_hints.py); without the claim each process swept the list.
    assert await _togai_calls(env) - before == Counter({"GET /accounts": 1})
    stored, run_count, left = await _stored(env)
    assert stored == Counter({f"account:{i}:created": 1 for i in ids})
    assert (run_count, left) == (12, 0)
    # The round is released: the process that found it taken resolves later hints at once.
    await env.new_account("pair-late")
    await other.http.post(env.togai_hook, json=_account_hint("pair-late"))
    loser = env.app.hints if resolved[0] == 0 else other.app.hints
    assert await loser.resolve_once() == 1


async def test_one_hint_at_two_processes_is_fetched_once(env: Env, other: Other) -> None:
    """Both processes run a round at once (each woke for deliveries of its own) while one
    hint waits: one GET of that account, one event. (A redelivery of a waiting hint stores
    nothing and wakes no resolver.)"""
    await env.new_account("solo-pair")
    for http in (env.http, other.http):
        await http.post(env.togai_hook, json=_account_hint("solo-pair"))
    await _slow_togai(env)
    before = await _togai_calls(env)

    resolved = await asyncio.gather(env.app.hints.resolve_once(), other.app.hints.resolve_once())

    assert sorted(resolved) == [0, 1]
    assert await _togai_calls(env) - before == Counter({"GET /accounts/{account_id}": 1})
    assert await _stored(env) == (Counter({"account:solo-pair:created": 1}), 1, 0)


async def _holder(env: Env) -> str | None:
    """Who holds the Togai connection's hint round now (None: nobody)."""
    async with env.app.db.read() as session:
        row = await session.get(HintClaim, env.togai_id)
    if row is None or row.held_until <= env.app.clock.now():
        return None
    return row.holder


async def _drained(env: Env, within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (await _stored(env))[2]:
        assert loop.time() < deadline, "hints left unresolved"
        await asyncio.sleep(0.1)


async def test_running_resolvers_leave_no_hint_while_one_holds_the_round(
    env: Env, other: Other
) -> None:
    """Both resolvers running (their loops, woken by their own webhooks): hints that reach
    the process whose round is taken wait in the database and are resolved once the holder's
    round ends, each entity once."""
    first = [f"run-a-{i}" for i in range(6)]
    second = [f"run-b-{i}" for i in range(6)]
    for account_id in [*first, *second]:
        await env.new_account(account_id)
    await _slow_togai(env, 1000)  # the first round outlasts the second burst and its window
    await env.app.hints.start()
    await other.app.hints.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not env.app.hints.rounds or not other.app.hints.rounds:  # the rounds at start
        assert loop.time() < deadline, "the resolvers did not start"
        await asyncio.sleep(0.01)
    before = await _togai_calls(env)

    for account_id in first:
        await env.http.post(env.togai_hook, json=_account_hint(account_id))
    # Once the first process holds the round, the burst goes on at the other one.
    deadline = loop.time() + 10
    while await _holder(env) != env.app.hints.holder:
        assert loop.time() < deadline, "the first round did not start"
        await asyncio.sleep(0.01)
    for account_id in second:
        await other.http.post(env.togai_hook, json=_account_hint(account_id))
    await _drained(env)

    assert other.app.hints.elsewhere >= 1  # it found the round taken, and came back

    stored, run_count, left = await _stored(env)
    assert stored == Counter({f"account:{i}:created": 1 for i in [*first, *second]})
    assert (run_count, left) == (12, 0)
    calls = await _togai_calls(env) - before
    # Two rounds, one after the other, each sweeping one page: the first for its six, the
    # second (in whichever process) for the six that came meanwhile.
    assert calls == Counter({"GET /accounts": 2}), calls


async def test_polls_defer_to_webhooks_another_process_resolved(env: Env, other: Other) -> None:
    first, poller = env.app.poller, other.app.poller  # the second took no webhook
    first._forced = False  # (kicked by the flows' set-up: it would take every claim)
    assert (await poller.poll_once(only_due=True)).polled == 4  # the first polls: never deferred
    await env.new_account("elsewhere-1")
    await env.http.post(env.togai_hook, json=_account_hint("elsewhere-1"))
    assert await env.app.hints.resolve_once() == 1  # resolved by the first process
    for key in list(poller._next_due):
        poller._next_due[key] = 0.0  # due now
    report = await poller.poll_once(only_due=True)
    # Togai's three polls wait (they read whole lists); Razorpay's catch-up does not.
    assert (report.polled, report.deferred) == (1, 3)
    # The first process's poller does not take those targets over meanwhile: the claims
    # stay with the deferring holder.
    assert (await first.poll_once(only_due=True)).elsewhere == 4


async def test_a_dead_holders_round_is_taken_over_once_its_claim_lapses(env: Env) -> None:
    """A process died holding the round (it renews no more): the others wait for its claim
    to lapse, CLAIM_S after its last renewal, then resolve the hints it left."""
    resolver = env.app.hints
    clock = FakeClock(datetime.now(UTC))
    resolver._clock = clock
    await env.new_account("orphan-1")
    await env.http.post(env.togai_hook, json=_account_hint("orphan-1"))
    async with env.app.db.write() as session:
        assert await hint_claims.claim(
            session,
            env.togai_id,
            holder="dead-process",
            now=clock.now(),
            until=clock.now() + timedelta(seconds=hints_engine.CLAIM_S),
        )

    assert await resolver.resolve_once() == 0
    assert resolver.elsewhere == 1
    clock.advance(hints_engine.CLAIM_S - 1)
    assert await resolver.resolve_once() == 0
    clock.advance(1)
    assert await resolver.resolve_once() == 1
    assert await _stored(env) == (Counter({"account:orphan-1:created": 1}), 1, 0)
    # Released at the end of the round, with the time hints were resolved.
    async with env.app.db.read() as session:
        row = await session.get(HintClaim, env.togai_id)
    assert row is not None
    assert (row.holder, row.held_until, row.resolved_at) == (
        resolver.holder,
        clock.now(),
        clock.now(),
    )
