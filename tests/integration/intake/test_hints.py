"""Togai webhooks as hints: stored and acknowledged, then re-fetched in batches (many hints
per list call), still deduplicated, never trusted for their content."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from billsync.domain import Hint
from billsync.engine import poller as poller_module
from billsync.store import events, hints, runs
from billsync.store.models import Event, Run
from tests.integration.intake.conftest import Env


async def _events(env: Env) -> list[Event]:
    async with env.app.db.read() as session:
        return list(await events.list_recent(session, limit=1000))


async def _run_count(env: Env) -> int:
    async with env.app.db.read() as session:
        return sum((await runs.count_by_status(session)).values())


async def _togai_calls(env: Env) -> Counter[str]:
    stats = (await env.togai_http.get("/_sandbox/stats")).json()
    return Counter({route: sum(c.values()) for route, c in stats["requests"].items()})


def _refetches() -> float:
    value = REGISTRY.get_sample_value(
        "billsync_provider_calls_total", {"app": "togai", "purpose": "refetch"}
    )
    return value or 0.0


def _account_hint(account_id: str) -> dict[str, Any]:
    return {"type": "account.created", "data": {"entityType": "ACCOUNT", "entityId": account_id}}


def _invoice_hint(invoice_id: str, event: str = "INVOICE_GENERATED") -> dict[str, Any]:
    return {"event": event, "payload": {"id": invoice_id}}


async def _due_invoice(env: Env, account_id: str, total: int) -> str:
    r = await env.togai_http.post(
        "/_sandbox/invoices", json={"accountId": account_id, "totalAmount": total, "status": "DUE"}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_many_account_hints_cost_one_list_call_and_are_deduplicated(env: Env) -> None:
    ids = [f"burst-{i:02d}" for i in range(12)]
    for account_id in ids:
        await env.new_account(account_id)
    for account_id in [*ids, ids[0]]:  # one redelivery while the first is still pending
        r = await env.http.post(env.togai_hook, json=_account_hint(account_id))
        assert r.status_code == 200, r.text
    assert r.json() == {"stored": 0, "duplicates": 1, "runs": 0, "hints": 0}
    before, refetched = await _togai_calls(env), _refetches()

    assert await env.app.hints.resolve_once() == 12

    calls = await _togai_calls(env) - before
    # One page of GET /accounts re-fetched all twelve; no GET per account.
    assert calls == Counter({"GET /accounts": 1})
    assert _refetches() - refetched == 1
    stored = await _events(env)
    assert sorted(e.external_id for e in stored) == sorted(f"account:{i}:created" for i in ids)
    assert {e.payload["account"]["name"] for e in stored} == {f"Customer {i}" for i in ids}
    assert await _run_count(env) == 12
    async with env.app.db.read() as session:
        assert await hints.count(session) == 0

    # A late redelivery is stored as a hint again, resolved without a call, and adds nothing.
    again = await env.http.post(env.togai_hook, json=_account_hint(ids[3]))
    assert again.json()["hints"] == 1
    before = await _togai_calls(env)
    assert await env.app.hints.resolve_once() == 1
    assert await _togai_calls(env) - before == Counter()
    assert len(await _events(env)) == 12
    assert await _run_count(env) == 12


async def test_a_single_hint_is_fetched_by_id(env: Env) -> None:
    await env.new_account("solo-1")
    await env.http.post(env.togai_hook, json=_account_hint("solo-1"))
    before = await _togai_calls(env)
    assert await env.app.hints.resolve_once() == 1
    assert await _togai_calls(env) - before == Counter({"GET /accounts/{account_id}": 1})


async def test_a_hint_for_nothing_that_exists_resolves_to_nothing(env: Env) -> None:
    await env.http.post(env.togai_hook, json=_account_hint("forged-1"))
    await env.http.post(env.togai_hook, json=_account_hint("forged-2"))
    assert await env.app.hints.resolve_once() == 2
    assert await _events(env) == []
    async with env.app.db.read() as session:
        assert await hints.count(session) == 0


async def test_invoice_hints_use_the_due_list_and_the_known_accounts(env: Env) -> None:
    accounts = [f"acct-{i}" for i in range(5)]
    for account_id in accounts:
        await env.new_account(account_id)
        await env.http.post(env.togai_hook, json=_account_hint(account_id))
    assert await env.app.hints.resolve_once() == 5
    invoices = {await _due_invoice(env, a, 100 + i): a for i, a in enumerate(accounts)}
    # An account no webhook announced: its invoice's resolution fetches it.
    await env.new_account("acct-quiet")
    quiet = await _due_invoice(env, "acct-quiet", 999)
    for invoice_id in [*invoices, quiet]:
        r = await env.http.post(env.togai_hook, json=_invoice_hint(invoice_id))
        assert r.json()["hints"] == 1
    before = await _togai_calls(env)

    assert await env.app.hints.resolve_once() == 6

    calls = await _togai_calls(env) - before
    assert calls == Counter({"GET /invoices": 1, "GET /accounts/{account_id}": 1})
    stored = {e.external_id: e for e in await _events(env)}
    for invoice_id, account_id in invoices.items():
        event = stored[f"invoice:{invoice_id}:DUE"]
        assert event.trigger == "invoice.generated"
        assert event.entity_key == f"togai-account:{account_id}"
        # The account as the invoice describes it: enough for the invoice flow.
        account = event.payload["account"]
        assert account["id"] == account_id and account["invoiceCurrency"] == "INR"
        assert event.payload["invoice"]["ownerId"] == account_id
    quiet_event = stored[f"invoice:{quiet}:DUE"]
    assert quiet_event.payload["account"]["name"] == "Customer acct-quiet"
    assert "togaiAccountId" in quiet_event.payload["account"]  # the fetched account itself


async def test_the_next_round_resumes_the_list_where_the_last_sweep_ended(env: Env) -> None:
    """A burst keeps adding DUE invoices: each round reads the list from where the previous
    one read its last page (keyset tokens), not from the start again."""
    await env.new_account("acct-burst")
    first = [await _due_invoice(env, "acct-burst", 100 + i) for i in range(120)]  # 3 pages
    for invoice_id in first:
        await env.http.post(env.togai_hook, json=_invoice_hint(invoice_id))
    before = await _togai_calls(env)
    assert await env.app.hints.resolve_once() == 120
    assert (await _togai_calls(env) - before)["GET /invoices"] == 3

    later = [await _due_invoice(env, "acct-burst", 500 + i) for i in range(60)]
    for invoice_id in later:
        await env.http.post(env.togai_hook, json=_invoice_hint(invoice_id))
    before = await _togai_calls(env)
    assert await env.app.hints.resolve_once() == 60

    calls = await _togai_calls(env) - before
    # The last page again (invoices 101-150) and the new one (151-180): two list calls where
    # a sweep from the start would read four.
    assert calls == Counter({"GET /invoices": 2, "GET /accounts/{account_id}": 1})
    stored = {e.external_id for e in await _events(env)}
    assert {f"invoice:{i}:DUE" for i in [*first, *later]} <= stored


async def test_a_voided_invoice_hint_is_fetched_and_reported_as_voided(env: Env) -> None:
    await env.new_account("acct-v")
    first = await _due_invoice(env, "acct-v", 100)
    second = await _due_invoice(env, "acct-v", 200)
    r = await env.togai_http.post(f"/_sandbox/invoices/{second}/void")
    assert r.status_code == 200, r.text
    await env.http.post(env.togai_hook, json=_invoice_hint(first))
    await env.http.post(env.togai_hook, json=_invoice_hint(second, "INVOICE_UPDATED"))
    assert await env.app.hints.resolve_once() == 2
    stored = {e.external_id: e.trigger for e in await _events(env)}
    assert stored == {
        f"invoice:{first}:DUE": "invoice.generated",
        f"invoice:{second}:VOID": "invoice.voided",
    }


async def test_hints_left_by_a_crash_are_resolved_again_without_duplicates(env: Env) -> None:
    await env.new_account("crash-1")
    await env.http.post(env.togai_hook, json=_account_hint("crash-1"))
    assert await env.app.hints.resolve_once() == 1
    # As if the process died after storing the event but before deleting the hint.
    async with env.app.db.write() as session:
        assert await hints.insert(
            session, env.togai_id, Hint("account", "crash-1"), now=env.app.clock.now()
        )
    assert await env.app.hints.resolve_once() == 1
    assert [e.external_id for e in await _events(env)] == ["account:crash-1:created"]
    assert await _run_count(env) == 1


async def test_polls_wait_while_webhooks_arrive_but_not_forever(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    poller = env.app.poller
    poller.interval = 0.0  # every target is due at every round
    first = await poller.poll_once(only_due=True)
    assert (first.polled, first.deferred) == (4, 0)  # the first polls are never deferred
    await env.new_account("live-1")
    await env.http.post(env.togai_hook, json=_account_hint("live-1"))
    assert await env.app.hints.resolve_once() == 1
    poller.interval = 30.0
    for key in list(poller._next_due):
        poller._next_due[key] = 0.0  # due now
    # Togai's webhooks just delivered: its three polls wait; Razorpay's catch-up does not.
    waiting = await poller.poll_once(only_due=True)
    assert (waiting.polled, waiting.deferred) == (1, 3)
    # ...at most MAX_DEFER_S after the last poll of each.
    monkeypatch.setattr(poller_module, "MAX_DEFER_S", 0.0)
    for key in list(poller._next_due):
        poller._next_due[key] = 0.0
    overdue = await poller.poll_once(only_due=True)
    assert (overdue.polled, overdue.deferred) == (4, 0)


async def _gather_seconds(env: Env) -> float:
    """How long a round's gather waits while deliveries keep coming every 20 ms."""
    resolver = env.app.hints
    delivering = True

    async def deliver() -> None:
        while delivering:
            resolver.notify()
            await asyncio.sleep(0.02)

    task = asyncio.create_task(deliver())
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        await resolver._gather()
        return loop.time() - started
    finally:
        delivering = False
        await task


async def test_a_burst_that_never_pauses_starts_its_round_early_while_few_runs_wait(
    env: Env,
) -> None:
    resolver = env.app.hints
    resolver.window, resolver.max_wait, resolver.hungry_below = 0.1, 1.5, 3
    # No run queued: the executors are idle, so the round starts after one window although
    # deliveries never pause (it used to wait for max_wait).
    assert await _gather_seconds(env) < 0.75
    # Three runs queued (no worker runs here): enough work waits, so the round gathers
    # until max_wait and takes more hints at once.
    for account_id in ("queue-1", "queue-2", "queue-3"):
        await env.new_account(account_id)
        await env.http.post(env.togai_hook, json=_account_hint(account_id))
    assert await resolver.resolve_once() == 3
    async with env.app.db.read() as session:
        assert await runs.queued_at_least(session, 10) == 3
    assert await _gather_seconds(env) >= 1.45
    # Without the check (hungry_below 0) a never-pausing burst waits for max_wait even when
    # nothing is queued.
    resolver.hungry_below = 0
    async with env.app.db.write() as session:
        await session.execute(sa.update(Run).values(status="cancelled"))
    assert await _gather_seconds(env) >= 1.45


async def test_stop_ends_the_resolver_when_a_hint_arrives_as_it_stops(env: Env) -> None:
    """A delivery's notify() in the same loop iteration as stop()'s cancel, while the round
    gathers: Python 3.11's wait_for returned normally then, the loop went on and `billsync
    serve` hung on SIGTERM (billsync/tasks.py)."""
    resolver = env.app.hints
    resolver.window, resolver.max_wait, resolver.hungry_below = 5.0, 10.0, 0
    await resolver.start()
    looping = stopping = None
    try:
        resolver.notify()
        await asyncio.sleep(0.05)  # the round is gathering: waiting for the next delivery
        resolver.notify()
        looping = resolver._task
        stopping = asyncio.create_task(resolver.stop())
        done, _ = await asyncio.wait([stopping], timeout=5)
        assert done, "stop() still waits for the resolver's loop"
    finally:
        if looping is not None and not looping.done():
            looping.cancel()  # a second cancel, while nothing wakes the loop
            await asyncio.wait([stopping], timeout=5)
        await resolver.stop()
