"""/api/v1/mappings, /api/v1/audit, /api/v1/health and the database-backed metrics."""

from __future__ import annotations

from pathlib import Path

import httpx
from pydantic import SecretStr

from billsync.api.server import create_api
from billsync.app import build
from billsync.config import Settings
from billsync.domain import IdLink, LinkKind
from billsync.engine.mapping import write_links
from billsync.store import steps
from billsync.store.status import AttemptOutcome, StepStatus
from billsync.store.vault import Vault
from tests.api.conftest import Env


async def _links(env: Env) -> None:
    async with env.app.db.write() as session:
        await write_links(
            session,
            [
                IdLink(LinkKind.ACCOUNT_CUSTOMER, "acc_1", "cust_1"),
                IdLink(LinkKind.INVOICE_INVOICE, "inv.1", "inv_R1"),
                IdLink(LinkKind.PAYMENT_PAYMENT, "pay.1", "pay_R1"),
            ],
            run_id=None,
            now=env.clock.now(),
        )


async def test_lookup_by_either_side(env: Env) -> None:
    await _links(env)
    for value, kind, other in (
        ("acc_1", "account_customer", "cust_1"),
        ("cust_1", "account_customer", "acc_1"),
        ("inv_R1", "invoice_invoice", "inv.1"),
        ("pay_R1", "payment_payment", "pay.1"),
    ):
        r = await env.http.get("/api/v1/mappings", params={"id": value})
        assert r.status_code == 200
        [found] = r.json()
        assert found["kind"] == kind
        assert other in (found["togai_id"], found["razorpay_id"])
    assert (await env.http.get("/api/v1/mappings", params={"id": "nope"})).json() == []
    r = await env.http.get("/api/v1/mappings", params={"kind": "invoice_invoice"})
    assert [m["razorpay_id"] for m in r.json()] == ["inv_R1"]
    assert len((await env.http.get("/api/v1/mappings")).json()) == 3
    r = await env.http.get("/api/v1/mappings", params={"kind": "nope"})
    assert r.status_code == 422


async def test_audit_lists_changes_newest_first(env: Env) -> None:
    togai_id, _ = await env.connections()
    await env.http.patch(f"/api/v1/connections/{togai_id}", json={"name": "Renamed"})
    r = await env.http.get("/api/v1/audit", params={"limit": 2})
    assert r.status_code == 200
    [latest, previous] = r.json()
    assert (latest["action"], latest["actor"], latest["detail"]) == (
        "connection.update",
        "api:tester",
        {"fields": ["name"]},
    )
    assert previous["action"] == "connection.create"
    r = await env.http.get("/api/v1/audit", params={"target": "token:tester"})
    assert [e["action"] for e in r.json()] == ["token.create"]


async def test_health_reports_run_counts(env: Env) -> None:
    r = await env.anon.get("/api/v1/health")
    assert r.status_code == 200
    assert r.json()["runs"] == {}
    assert r.json()["worker"] is False


async def test_metrics_read_the_database(env: Env) -> None:
    togai_id, razorpay_id = await env.connections()
    r = await env.http.post(
        "/api/v1/flows",
        json={
            "template": "togai-account-to-razorpay-customer",
            "connections": {"togai": togai_id, "razorpay": razorpay_id},
        },
    )
    flow_id = r.json()["id"]
    _, dead = await env.event_with_run(togai_id, flow_id, "e1", "togai-account:a1")
    await env.event_with_run(togai_id, flow_id, "e2", "togai-account:a2")
    await env.fail_run(dead, dead=True)
    async with env.app.db.write() as session:
        for number, (outcome, error_class) in enumerate(
            (
                (AttemptOutcome.RETRY, "RateLimitedError"),
                (AttemptOutcome.DEAD, "UnavailableError"),
            ),
            start=1,
        ):
            attempt_id = await steps.begin_attempt(
                session, dead, 0, number=number, now=env.clock.now()
            )
            env.clock.advance(2)
            await steps.finish_attempt(
                session,
                attempt_id,
                outcome=outcome,
                now=env.clock.now(),
                error_class=error_class,
            )
        await steps.save(
            session,
            dead,
            0,
            step_id="customer",
            action="razorpay.create_customer",
            connection_id=razorpay_id,
            status=StepStatus.DEAD,
            now=env.clock.now(),
        )
    env.clock.advance(10)
    r = await env.http.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'billsync_runs{status="dead"} 1.0' in text
    assert 'billsync_runs{status="queued"} 1.0' in text
    assert "billsync_dead_letters 1.0" in text
    assert "billsync_step_retries_total 1.0" in text
    assert 'billsync_api_calls_total{connection="razorpay/Razorpay"} 2.0' in text
    assert 'billsync_api_rate_limited_total{connection="razorpay/Razorpay"} 1.0' in text
    assert (
        'billsync_step_latency_seconds{action="razorpay.create_customer",quantile="0.5"} 2.0'
        in text
    )
    assert 'billsync_events{status="received"} 2.0' in text
    # Both runs were created at the fake clock's start; 14 s have passed since.
    assert "billsync_sync_lag_seconds 14.0" in text
    # The process counters (webhooks received by intake) are served alongside.
    assert "# TYPE billsync_webhooks_total counter" in text


async def test_health_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'x.db'}",
        secret_keys=SecretStr(Vault.generate_key()),
    )
    app = build(settings)
    api = create_api(app, start_worker=False, start_poller=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api), base_url="http://b.test"
    ) as http:
        r = await http.get("/api/v1/health")
    await app.db.dispose()
    assert r.status_code == 503
    assert r.json() == {"detail": "database unreachable"}
