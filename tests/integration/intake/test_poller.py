"""The poller: only polls what enabled flows listen to, persists cursors, dedupes with webhooks."""

from __future__ import annotations

from billsync.app import connection_admin
from billsync.app import flows as flow_ops
from billsync.engine.poller import PollTarget
from billsync.store import cursors, events, flows, runs
from tests.integration.intake.conftest import Env


async def _external_ids(env: Env) -> list[str]:
    async with env.app.db.read() as session:
        return sorted(e.external_id for e in await events.list_recent(session, limit=100))


async def _run_count(env: Env) -> int:
    async with env.app.db.read() as session:
        return sum((await runs.count_by_status(session)).values())


async def test_targets_are_the_polling_triggers_of_enabled_flows(env: Env) -> None:
    targets = await env.app.poller.targets()
    assert targets == [
        PollTarget(env.togai_id, "account.created"),
        PollTarget(env.togai_id, "invoice.generated"),
        PollTarget(env.togai_id, "invoice.voided"),
        # Razorpay: one catch-up walk of the payment list for both payment flows.
        PollTarget(
            env.razorpay_id, "payments", frozenset({"invoice.paid", "invoice.partially_paid"})
        ),
    ]
    async with env.app.db.read() as session:
        all_flows = list(await flows.list_all(session))
    for flow in all_flows:
        await flow_ops.set_enabled(env.app, flow.id, False)
    assert await env.app.poller.targets() == []
    report = await env.app.poller.poll_once()
    assert report.polled == 0


async def test_poll_stores_new_entities_once_and_persists_the_cursor(env: Env) -> None:
    await env.new_account("poll-1")
    invoice = await env.togai_http.post(
        "/_sandbox/invoices", json={"accountId": "poll-1", "totalAmount": 1200, "status": "DUE"}
    )
    assert invoice.status_code == 201
    invoice_id = invoice.json()["id"]

    first = await env.app.poller.poll_once()
    assert (first.polled, first.failed, first.stored) == (4, 0, 2)
    # account.created → one flow; invoice.generated → one flow
    assert first.runs == 2
    assert await _external_ids(env) == sorted(
        ["account:poll-1:created", f"invoice:{invoice_id}:DUE"]
    )
    async with env.app.db.read() as session:
        seen = await cursors.get(session, env.togai_id, "account.created")
        due = await cursors.get(session, env.togai_id, "invoice.generated")
    assert seen == {"seen": ["poll-1"]}
    assert due == {"due": [invoice_id]}

    second = await env.app.poller.poll_once()
    assert (second.stored, second.runs) == (0, 0)
    assert await _run_count(env) == 2


async def test_webhook_after_poll_and_poll_after_webhook_collapse(env: Env) -> None:
    await env.new_account("both-1")
    await env.app.poller.poll_once()
    hint = {"type": "account.created", "data": {"entityType": "ACCOUNT", "entityId": "both-1"}}
    late_webhook = await env.http.post(env.togai_hook, json=hint)
    # A Togai webhook is a hint; resolving it finds the poll's event already stored.
    assert late_webhook.json() == {"stored": 0, "duplicates": 0, "runs": 0, "hints": 1}
    assert await env.app.hints.resolve_once() == 1
    assert await _external_ids(env) == ["account:both-1:created"]

    await env.new_account("both-2")
    hint = {"type": "account.created", "data": {"entityType": "ACCOUNT", "entityId": "both-2"}}
    early_webhook = await env.http.post(env.togai_hook, json=hint)
    assert early_webhook.json()["hints"] == 1
    assert await env.app.hints.resolve_once() == 1
    report = await env.app.poller.poll_once()
    assert report.stored == 0
    assert await _external_ids(env) == ["account:both-1:created", "account:both-2:created"]
    assert await _run_count(env) == 2


async def test_failed_poll_keeps_the_cursor_and_is_retried_next_round(env: Env) -> None:
    await env.new_account("flaky-1")
    await env.togai_http.post("/_sandbox/faults", json={"error_rate": 1.0, "error_status": 500})
    report = await env.app.poller.poll_once()
    assert report.failed == 3 and report.stored == 0
    async with env.app.db.read() as session:
        assert await cursors.get(session, env.togai_id, "account.created") is None
    await env.togai_http.delete("/_sandbox/faults")
    report = await env.app.poller.poll_once()
    assert report.failed == 0 and report.stored == 1


async def test_first_poll_without_backfill_only_records_the_baseline(env: Env) -> None:
    # Given a Togai connection left at the default poll_start ("now") and an account that
    # existed before it was connected
    await env.new_account("old-1")
    await connection_admin.update(env.app, env.togai_id, values={"poll_start": "now"})
    # When the first poll runs, nothing that already existed starts a flow
    first = await env.app.poller.poll_once()
    assert (first.failed, first.stored, first.runs) == (0, 0, 0)
    async with env.app.db.read() as session:
        assert await cursors.get(session, env.togai_id, "account.created") == {"seen": ["old-1"]}
    # Then an account created afterwards is news
    await env.new_account("new-1")
    second = await env.app.poller.poll_once()
    assert (second.stored, second.runs) == (1, 1)
    assert await _external_ids(env) == ["account:new-1:created"]
