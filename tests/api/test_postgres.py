"""The core CRUD once more on PostgreSQL (the same routes, another backend)."""

from __future__ import annotations

import pytest

from billsync.app import audit
from tests.api.conftest import RAZORPAY_VALUES, TOGAI_VALUES, Env

pytestmark = pytest.mark.postgres


async def test_core_crud_on_postgres(pg_env: Env) -> None:
    env = pg_env
    ids = {}
    for app_name, values in (("togai", TOGAI_VALUES), ("razorpay", RAZORPAY_VALUES)):
        r = await env.http.post(
            "/api/v1/connections", json={"app": app_name, "name": app_name, "values": values}
        )
        assert r.status_code == 201, r.text
        ids[app_name] = r.json()["id"]
    r = await env.http.post(
        "/api/v1/flows",
        json={"template": "togai-account-to-razorpay-customer", "connections": ids},
    )
    assert r.status_code == 201, r.text
    flow_id = r.json()["id"]
    assert (await env.http.post(f"/api/v1/flows/{flow_id}/enable")).json()["enabled"] is True
    event_id, run_id = await env.event_with_run(ids["togai"], flow_id, "e1", "togai-account:a_1")
    await env.fail_run(run_id)
    runs = (await env.http.get("/api/v1/runs", params={"entity": "a_1", "status": "failed"})).json()
    assert [r["id"] for r in runs] == [run_id]
    r = await env.http.post(f"/api/v1/runs/{run_id}/replay")
    assert r.json()["status"] == "queued"
    assert (await env.http.get(f"/api/v1/events/{event_id}")).json()["runs"][0]["id"] == run_id
    r = await env.http.post("/api/v1/flows", json={"definition": {"name": "broken", "steps": []}})
    assert r.status_code == 422
    assert {"definition.direction", "definition.trigger", "definition.steps"} <= {
        d["field"] for d in r.json()["detail"]
    }
    spare = await env.http.post(
        "/api/v1/flows",
        json={
            "template": "togai-invoice-void-to-razorpay-cancel",
            "connections": ids,
            "name": "spare",
        },
    )
    assert spare.status_code == 201, spare.text
    assert (await env.http.delete(f"/api/v1/flows/{spare.json()['id']}")).status_code == 204
    assert (await env.http.delete(f"/api/v1/flows/{flow_id}")).status_code == 409
    assert (await env.http.delete(f"/api/v1/connections/{ids['razorpay']}")).status_code == 409
    assert (await env.http.get("/api/v1/connections/12345")).status_code == 404
    assert (await env.anon.get("/api/v1/flows")).status_code == 401
    actions = [e.action for e in await audit.recent(env.app)]
    assert actions[:4] == ["flow.delete", "flow.create", "run.replay", "flow.enable"]
