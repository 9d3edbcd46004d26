"""Webhook intake: authenticate before parsing, persist then acknowledge, dedupe."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client import REGISTRY

from billsync import errors
from billsync.api.webhooks import RedactTokens
from billsync.app import flows as flow_ops
from billsync.store import events, flows, hints, runs
from billsync.store.models import Event
from billsync.store.status import EventStatus
from tests.integration.intake.conftest import (
    METRICS_AUTH,
    WEBHOOK_SECRET,
    Env,
    invoice_paid,
    sign,
)


async def _events(env: Env) -> list[Event]:
    async with env.app.db.read() as session:
        return list(await events.list_recent(session, limit=100))


async def _run_count(env: Env) -> int:
    async with env.app.db.read() as session:
        return sum((await runs.count_by_status(session)).values())


def _counter(app: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value("billsync_webhooks_total", {"app": app, "outcome": outcome})
    return value or 0.0


async def test_signed_razorpay_webhook_stores_event_and_run_before_answering(env: Env) -> None:
    r = await env.razorpay_post(invoice_paid(), event_id="evt_1", secret=WEBHOOK_SECRET)
    assert r.status_code == 200, r.text
    assert r.json() == {"stored": 1, "duplicates": 0, "runs": 1}
    [event] = await _events(env)
    assert (event.trigger, event.external_id, event.status) == (
        "invoice.paid",
        "invoice.paid:pay_A1",
        EventStatus.RECEIVED.value,
    )
    assert event.entity_key == "togai-account:acc-1"
    async with env.app.db.read() as session:
        [run] = await runs.for_event(session, event.id)
        flow = await flows.get(session, run.flow_id)
    assert flow is not None and flow.template_key == "razorpay-invoice-paid-to-togai"
    assert run.status == "queued"


async def test_duplicate_delivery_answers_200_and_creates_nothing(env: Env) -> None:
    first = await env.razorpay_post(invoice_paid(), event_id="evt_dup", secret=WEBHOOK_SECRET)
    again = await env.razorpay_post(invoice_paid(), event_id="evt_dup", secret=WEBHOOK_SECRET)
    assert first.status_code == again.status_code == 200
    assert again.json() == {"stored": 0, "duplicates": 1, "runs": 0}
    assert len(await _events(env)) == 1
    assert await _run_count(env) == 1


async def test_a_replayed_signed_body_under_another_or_no_event_id_stores_nothing(
    env: Env,
) -> None:
    # Issue #11 "replays": the event id header is not signed, the body is.
    first = await env.razorpay_post(invoice_paid(), event_id="evt_orig", secret=WEBHOOK_SECRET)
    assert first.json() == {"stored": 1, "duplicates": 0, "runs": 1}
    before = _counter("razorpay", "duplicate")
    for replay_id in ("evt_forged_1", "evt_forged_2", None):
        again = await env.razorpay_post(invoice_paid(), event_id=replay_id, secret=WEBHOOK_SECRET)
        assert again.status_code == 200, again.text
        assert again.json() == {"stored": 0, "duplicates": 1, "runs": 0}
    assert len(await _events(env)) == 1
    assert await _run_count(env) == 1
    # Counted in /metrics as duplicates.
    assert _counter("razorpay", "duplicate") == before + 3
    metrics = await env.http.get("/metrics", headers=METRICS_AUTH)
    assert metrics.status_code == 200
    assert 'billsync_webhooks_total{app="razorpay",outcome="duplicate"}' in metrics.text


async def test_a_second_payment_of_the_same_invoice_is_a_new_event(env: Env) -> None:
    first = invoice_paid(event="invoice.partially_paid")
    second = invoice_paid()
    second["payload"]["payment"]["entity"]["id"] = "pay_A2"
    for envelope in (first, second):
        r = await env.razorpay_post(envelope, event_id=None, secret=WEBHOOK_SECRET)
        assert r.json()["stored"] == 1
    assert sorted(e.external_id for e in await _events(env)) == [
        "invoice.paid:pay_A2",
        "invoice.partially_paid:pay_A1",
    ]


async def test_wrong_or_missing_signature_is_401_and_stores_nothing(env: Env) -> None:
    before = _counter("razorpay", "unauthenticated")
    wrong = await env.razorpay_post(invoice_paid(), event_id="evt_2", secret="not-the-secret")
    missing = await env.razorpay_post(invoice_paid(), event_id="evt_3", secret=None)
    assert wrong.status_code == missing.status_code == 401
    assert "secret" not in wrong.text.lower() or WEBHOOK_SECRET not in wrong.text
    assert await _events(env) == []
    assert _counter("razorpay", "unauthenticated") == before + 2


async def test_signature_is_checked_before_the_body_is_parsed(env: Env) -> None:
    unsigned_garbage = await env.razorpay_post(b"{not json", event_id="evt_4", secret="nope")
    signed_garbage = await env.razorpay_post(b"{not json", event_id="evt_5", secret=WEBHOOK_SECRET)
    assert unsigned_garbage.status_code == 401
    assert signed_garbage.status_code == 400
    assert await _events(env) == []


async def test_body_over_one_mebibyte_is_413(env: Env) -> None:
    envelope = invoice_paid()
    envelope["padding"] = "x" * (1024 * 1024)
    r = await env.razorpay_post(envelope, event_id="evt_big", secret=WEBHOOK_SECRET)
    assert r.status_code == 413
    assert await _events(env) == []


async def test_unknown_event_type_is_stored_as_ignored(env: Env) -> None:
    r = await env.razorpay_post(
        invoice_paid(event="order.paid"), event_id="evt_order", secret=WEBHOOK_SECRET
    )
    assert r.status_code == 200
    [event] = await _events(env)
    assert event.trigger is None
    assert event.status == EventStatus.IGNORED.value
    assert await _run_count(env) == 0


async def test_filter_keeps_invoices_billsync_did_not_create_out(env: Env) -> None:
    r = await env.razorpay_post(
        invoice_paid(togai_invoice_id=None), event_id="evt_manual", secret=WEBHOOK_SECRET
    )
    assert r.status_code == 200
    [event] = await _events(env)
    assert event.trigger == "invoice.paid"
    assert event.status == EventStatus.IGNORED.value
    assert await _run_count(env) == 0


async def test_disabled_flows_start_no_runs(env: Env) -> None:
    async with env.app.db.read() as session:
        all_flows = list(await flows.list_all(session))
    for flow in all_flows:
        await flow_ops.set_enabled(env.app, flow.id, False)
    r = await env.razorpay_post(invoice_paid(), event_id="evt_off", secret=WEBHOOK_SECRET)
    assert r.status_code == 200
    [event] = await _events(env)
    assert event.status == EventStatus.IGNORED.value
    assert await _run_count(env) == 0


async def test_unknown_connection_or_wrong_app_answers_like_a_bad_signature(env: Env) -> None:
    # Issue 11: the answer must not tell which connection ids exist.
    body = json.dumps(invoice_paid()).encode()
    signed = {"X-Razorpay-Signature": sign(body, WEBHOOK_SECRET)}
    missing = await env.http.post("/webhooks/razorpay/9999", content=body, headers=signed)
    wrong_app = await env.http.post(
        f"/webhooks/razorpay/{env.togai_id}", content=body, headers=signed
    )
    bad_signature = await env.http.post(
        f"/webhooks/razorpay/{env.razorpay_id}",
        content=body,
        headers={"X-Razorpay-Signature": "0" * 64},
    )
    togai_missing = await env.http.post("/webhooks/togai/9999/sometoken", content=body)
    answers = {(r.status_code, r.text) for r in (missing, wrong_app, bad_signature, togai_missing)}
    assert answers == {(401, bad_signature.text)}
    assert await _events(env) == []


async def test_togai_webhook_with_token_stores_a_hint_then_refetches_the_account(
    env: Env,
) -> None:
    await env.new_account("acme-1")
    hint = {
        "id": "evt.1",
        "type": "account.created",
        # The body is a hint only: what it says about the account is never used.
        "data": {"entityType": "ACCOUNT", "entityId": "acme-1", "name": "Forged name"},
    }
    r = await env.http.post(env.togai_hook, json=hint)
    assert r.status_code == 200, r.text
    # Acknowledged once the hint is durable; the event follows its re-fetch.
    assert r.json() == {"stored": 0, "duplicates": 0, "runs": 0, "hints": 1}
    assert await _events(env) == []
    assert await env.app.hints.resolve_once() == 1
    [event] = await _events(env)
    assert event.external_id == "account:acme-1:created"
    assert event.payload["account"]["id"] == "acme-1"
    assert event.payload["account"]["name"] == "Customer acme-1"
    assert await _run_count(env) == 1


async def test_togai_webhook_with_wrong_or_missing_token_is_401(env: Env) -> None:
    await env.new_account("acme-2")
    hint = {"type": "account.created", "data": {"entityType": "ACCOUNT", "entityId": "acme-2"}}
    before = _counter("togai", "unauthenticated")
    wrong = await env.http.post(f"/webhooks/togai/{env.togai_id}/not-the-token", json=hint)
    assert wrong.status_code == 401
    missing = await env.http.post(f"/webhooks/togai/{env.togai_id}", json=hint)
    assert missing.status_code in (404, 405)  # no route without a token
    assert await _events(env) == []
    assert _counter("togai", "unauthenticated") == before + 1


async def test_a_failed_togai_refetch_keeps_the_hint_for_the_next_round(env: Env) -> None:
    await env.new_account("acme-3")
    faults = await env.togai_http.post(
        "/_sandbox/faults", json={"error_rate": 1.0, "error_status": 503}
    )
    assert faults.status_code == 200
    hint = {"type": "account.created", "data": {"entityType": "ACCOUNT", "entityId": "acme-3"}}
    r = await env.http.post(env.togai_hook, json=hint)
    assert r.status_code == 200
    with pytest.raises(errors.UnavailableError):
        await env.app.hints.resolve_once()
    assert await _events(env) == []
    async with env.app.db.read() as session:
        assert await hints.count(session) == 1
    await env.togai_http.delete("/_sandbox/faults")
    assert await env.app.hints.resolve_once() == 1
    assert len(await _events(env)) == 1
    async with env.app.db.read() as session:
        assert await hints.count(session) == 0


async def test_healthz(env: Env) -> None:
    r = await env.http.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_access_log_never_shows_the_togai_token() -> None:
    filter_ = RedactTokens()
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/webhooks/togai/3/s3cr3t-t0ken?x=1", "1.1", 200),
        None,
    )
    assert filter_.filter(record)
    message = record.getMessage()
    assert "s3cr3t-t0ken" not in message
    assert "/webhooks/togai/3/***?x=1" in message


async def test_api_installs_the_access_log_redaction(env: Env) -> None:
    filters = logging.getLogger("uvicorn.access").filters
    assert any(isinstance(f, RedactTokens) for f in filters)
