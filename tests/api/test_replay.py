"""Replay through the API with the real runner: the run resumes at the step that failed,
and the step that succeeded is not executed again (design invariant 3)."""

from __future__ import annotations

import httpx

from tests.api.conftest import RZP, TOGAI_TOKEN, Env


async def test_replay_resumes_at_the_failed_step(env: Env) -> None:
    togai_id, razorpay_id = await env.connections()
    r = await env.http.post(
        "/api/v1/flows",
        json={
            "template": "togai-account-to-razorpay-customer",
            "connections": {"togai": togai_id, "razorpay": razorpay_id},
        },
    )
    flow_id = r.json()["id"]
    account = {
        "id": "acc_5",
        "name": "Acme Widgets",
        "primaryEmail": "billing@acme.example",
        "address": {"phoneNumber": "+919999999999", "country": "IN"},
    }
    # The account is announced before it exists at Togai: writing the setting back fails.
    _, run_id = await env.event_with_run(
        togai_id, flow_id, "e1", "togai-account:acc_5", payload={"account": account}
    )
    assert await env.app.runner.execute(run_id) is not None
    detail = (await env.http.get(f"/api/v1/runs/{run_id}")).json()
    assert detail["status"] == "failed", detail
    assert [s["status"] for s in detail["steps"]] == ["succeeded", "failed"]

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=env.togai),
        base_url="http://togai.test",
        headers={"Authorization": f"Bearer {TOGAI_TOKEN}"},
    ) as togai:
        created = await togai.post("/customers", json=account)
        assert created.status_code in (200, 201), created.text

    r = await env.http.post(f"/api/v1/runs/{run_id}/replay")
    assert (r.status_code, r.json()["status"]) == (200, "queued")
    assert await env.app.runner.execute(run_id) is not None
    detail = (await env.http.get(f"/api/v1/runs/{run_id}")).json()
    assert detail["status"] == "succeeded"
    customer_step, setting_step = detail["steps"]
    assert len(customer_step["attempts"]) == 1  # not executed again
    assert [a["outcome"] for a in setting_step["attempts"]] == ["failed", "succeeded"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=env.razorpay),
        base_url="http://razorpay.test",
        auth=(RZP.key_id, RZP.key_secret),
    ) as razorpay:
        assert len((await razorpay.get("/v1/customers")).json()["items"]) == 1
