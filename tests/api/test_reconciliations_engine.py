"""/api/v1/reconciliations with the engine's own Reconciler against the in-process
sandboxes, on SQLite and PostgreSQL: a Togai account that billsync never heard of is
reported missing in Razorpay, fixed through the API by an ordinary run, and matched by
the next reconciliation."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest

from billsync.engine.reconcile.reconciler import Reconciler
from tests.api.conftest import TOGAI_TOKEN, Env


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Env:
    fixture = "env" if request.param == "sqlite" else "pg_env"
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


async def _togai_account(env: Env) -> str:
    """An account created at Togai while billsync hears nothing (no webhook registered)."""
    account_id = f"acc-{secrets.token_hex(4)}"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=env.togai), base_url="http://togai.test"
    ) as togai:
        r = await togai.post(
            "/customers",
            headers={"Authorization": f"Bearer {TOGAI_TOKEN}"},
            json={
                "id": account_id,
                "name": "Drifted Ltd",
                "primaryEmail": f"{account_id}@example.com",
                "address": {"line1": "1 MG Road", "city": "Bengaluru", "country": "IN"},
                "account": {
                    "id": account_id,
                    "name": "Drifted Ltd",
                    "primaryEmail": f"{account_id}@example.com",
                    "invoiceCurrency": "INR",
                    "address": {"phoneNumber": f"+9198{secrets.randbelow(10**8):08d}"},
                },
            },
        )
        r.raise_for_status()
    return account_id


async def _reconcile(env: Env) -> dict[str, Any]:
    r = await env.http.post("/api/v1/reconciliations", json={})
    assert r.status_code == 202, r.text
    await env.app.reconciliations.wait()
    done = await env.http.get(f"/api/v1/reconciliations/{r.json()['id']}")
    assert done.json()["status"] == "succeeded", done.text
    return dict(done.json())


async def test_report_fix_and_converge_with_the_engine(backend: Env) -> None:
    env = backend
    assert isinstance(env.app.reconciliations.reconciler, Reconciler)
    togai, razorpay = await env.connections()
    flow = await env.http.post(
        "/api/v1/flows",
        json={
            "template": "togai-account-to-razorpay-customer",
            "connections": {"togai": togai, "razorpay": razorpay},
            "enabled": True,
        },
    )
    assert flow.status_code == 201, flow.text
    account_id = await _togai_account(env)

    first = await _reconcile(env)
    assert (first["togai_connection_id"], first["razorpay_connection_id"]) == (togai, razorpay)
    assert first["calls"]["togai"] >= 1 and first["calls"]["razorpay"] >= 1
    mine = [i for i in first["items"] if i["togai_id"] == account_id]
    assert [(i["kind"], i["state"]) for i in mine] == [("customer", "missing_in_razorpay")]
    assert mine[0]["fix"]
    assert first["summary"]["missing_in_razorpay"] >= 1 and first["drift"] >= 1

    r = await env.http.post(
        f"/api/v1/reconciliations/{first['id']}/fix", json={"item_ids": [mine[0]["id"]]}
    )
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    assert result["skipped"] is None and result["event_id"] is not None
    assert len(result["run_ids"]) >= 1
    await env.app.worker.start()
    try:
        async with asyncio.timeout(30):
            await env.app.worker.run_until_idle()
    finally:
        await env.app.worker.stop()
    for run_id in result["run_ids"]:
        run = (await env.http.get(f"/api/v1/runs/{run_id}")).json()
        assert run["status"] == "succeeded", run
        assert run["event_id"] == result["event_id"]
    item = next(
        i
        for i in (await env.http.get(f"/api/v1/reconciliations/{first['id']}")).json()["items"]
        if i["id"] == mine[0]["id"]
    )
    assert (item["fix_event_id"], item["fix_run_ids"]) == (result["event_id"], result["run_ids"])

    second = await _reconcile(env)
    again = [i for i in second["items"] if i["togai_id"] == account_id]
    assert [(i["kind"], i["state"]) for i in again] == [("customer", "matched")]
    assert again[0]["razorpay_id"].startswith("cust_")
