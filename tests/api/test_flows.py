"""/api/v1/flows and /api/v1/templates: create, validate (422 naming fields), version,
enable, delete, preview."""

from __future__ import annotations

from typing import Any

import httpx

from billsync.app import audit
from tests.api.conftest import RZP, Env

ACCOUNT_TEMPLATE = "togai-account-to-razorpay-customer"


def definition(togai_id: int, razorpay_id: int, name: str = "Accounts") -> dict[str, Any]:
    return {
        "name": name,
        "direction": "outbound",
        "trigger": {"connection_id": str(togai_id), "trigger": "account.created"},
        "steps": [
            {"id": "customer", "connection_id": str(razorpay_id), "action": "create_customer"}
        ],
    }


async def test_templates_are_listed(env: Env) -> None:
    r = await env.http.get("/api/v1/templates")
    assert r.status_code == 200
    keys = {t["key"]: t for t in r.json()}
    assert ACCOUNT_TEMPLATE in keys
    assert keys[ACCOUNT_TEMPLATE]["apps"] == ["togai", "razorpay"]
    paid = keys["razorpay-invoice-paid-to-togai"]
    assert paid["companions"] == ["razorpay-invoice-partially-paid-to-togai"]


async def test_create_from_template_with_companions(env: Env) -> None:
    togai_id, razorpay_id = await env.connections()
    r = await env.http.post(
        "/api/v1/flows",
        json={
            "template": "razorpay-invoice-paid-to-togai",
            "connections": {"togai": togai_id, "razorpay": razorpay_id},
            "enabled": True,
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["template_key"] == "razorpay-invoice-paid-to-togai"
    assert body["enabled"] is True
    assert body["definition"]["trigger"]["connection_id"] == str(razorpay_id)
    assert len(body["companion_ids"]) == 1
    flows = (await env.http.get("/api/v1/flows")).json()
    assert {f["template_key"] for f in flows} == {
        "razorpay-invoice-paid-to-togai",
        "razorpay-invoice-partially-paid-to-togai",
    }
    entries = await audit.recent(env.app)
    assert [e.action for e in entries[:2]] == ["flow.create", "flow.create"]
    assert entries[0].actor == "api:tester"


async def test_template_problems_name_fields(env: Env) -> None:
    r = await env.http.post("/api/v1/flows", json={"template": ACCOUNT_TEMPLATE})
    assert r.status_code == 422
    fields = {d["field"] for d in r.json()["detail"]}
    assert fields == {"connections.togai", "connections.razorpay"}
    r = await env.http.post("/api/v1/flows", json={"template": "no-such-template"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "template"
    r = await env.http.post("/api/v1/flows", json={})
    assert r.status_code == 422


async def test_invalid_definition_names_every_failing_field(env: Env) -> None:
    togai_id, razorpay_id = await env.connections()
    bad = definition(togai_id, razorpay_id)
    bad["steps"] = [
        {"id": "customer", "connection_id": str(razorpay_id), "action": "create_customer"},
        {
            "id": "writeback",
            "connection_id": str(togai_id),
            "action": "set_account_setting",
            "input": {"value": "steps.nowhere.customer_id", "colour": "'blue'"},
        },
        {"id": "third", "connection_id": "999", "action": "create_customer"},
    ]
    r = await env.http.post("/api/v1/flows", json={"definition": bad})
    assert r.status_code == 422
    detail = r.json()["detail"]
    fields = {d["field"] for d in detail}
    assert fields == {
        "definition.steps[1].input.value",
        "definition.steps[1].input.colour",
        "definition.steps[2].connection_id",
    }
    locs = {tuple(d["loc"]) for d in detail}
    assert ("body", "definition", "steps", 2, "connection_id") in locs
    # Shape errors are named too.
    r = await env.http.post("/api/v1/flows", json={"definition": {"name": "x"}})
    assert r.status_code == 422
    assert {"definition.direction", "definition.trigger", "definition.steps"} <= {
        d["field"] for d in r.json()["detail"]
    }


async def test_get_update_versions_enable_disable(env: Env) -> None:
    togai_id, razorpay_id = await env.connections()
    r = await env.http.post("/api/v1/flows", json={"definition": definition(togai_id, razorpay_id)})
    assert r.status_code == 201
    flow_id = r.json()["id"]
    assert r.json()["enabled"] is False
    changed = definition(togai_id, razorpay_id, name="Accounts v2")
    r = await env.http.put(f"/api/v1/flows/{flow_id}", json={"definition": changed})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["current_version"], r.json()["versions"]) == (
        "Accounts v2",
        2,
        [2, 1],
    )
    bad = {**changed, "steps": []}
    r = await env.http.put(f"/api/v1/flows/{flow_id}", json={"definition": bad})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "definition.steps"
    assert (await env.http.get(f"/api/v1/flows/{flow_id}")).json()["current_version"] == 2
    r = await env.http.post(f"/api/v1/flows/{flow_id}/enable")
    assert (r.status_code, r.json()["enabled"]) == (200, True)
    r = await env.http.post(f"/api/v1/flows/{flow_id}/disable")
    assert (r.status_code, r.json()["enabled"]) == (200, False)
    for path in ("enable", "disable"):
        assert (await env.http.post(f"/api/v1/flows/999/{path}")).status_code == 404
    assert (await env.http.get("/api/v1/flows/999")).status_code == 404
    r = await env.http.put("/api/v1/flows/999", json={"definition": changed})
    assert r.status_code == 404
    actions = [e.action for e in await audit.recent(env.app, target=f"flow:{flow_id}")]
    assert actions == ["flow.disable", "flow.enable", "flow.update", "flow.create"]


async def test_delete_flow_without_runs_only(env: Env) -> None:
    togai_id, razorpay_id = await env.connections()
    first = await env.http.post(
        "/api/v1/flows", json={"definition": definition(togai_id, razorpay_id, "one")}
    )
    second = await env.http.post(
        "/api/v1/flows", json={"definition": definition(togai_id, razorpay_id, "two")}
    )
    await env.event_with_run(togai_id, second.json()["id"], "e1", "togai-account:a1")
    assert (await env.http.delete(f"/api/v1/flows/{first.json()['id']}")).status_code == 204
    assert (await env.http.get(f"/api/v1/flows/{first.json()['id']}")).status_code == 404
    r = await env.http.delete(f"/api/v1/flows/{second.json()['id']}")
    assert r.status_code == 409
    assert "disable" in r.json()["detail"]
    assert (await env.http.delete("/api/v1/flows/999")).status_code == 404


async def test_preview_against_a_sample_and_a_stored_event(env: Env) -> None:
    togai_id, razorpay_id = await env.connections()
    r = await env.http.post("/api/v1/flows", json={"definition": definition(togai_id, razorpay_id)})
    flow_id = r.json()["id"]
    payload = {
        "account": {
            "id": "acc_9",
            "name": "Acme",
            "primaryEmail": "billing@acme.example",
            "address": {"phoneNumber": "+919999999999"},
        }
    }
    r = await env.http.post(f"/api/v1/flows/{flow_id}/preview", json={"payload": payload})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["trigger_matched"] is True
    [step] = body["steps"]
    assert (step["step_id"], step["status"], step["writes"]) == ("customer", "ok", True)
    assert step["input"]["togai_account_id"] == "acc_9"
    # A preview never writes: Razorpay still has no customer.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=env.razorpay),
        base_url="http://razorpay.test",
        auth=(RZP.key_id, RZP.key_secret),
    ) as razorpay:
        assert (await razorpay.get("/v1/customers")).json()["items"] == []
    event_id, _ = await env.event_with_run(togai_id, flow_id, "e1", "togai-account:acc_1")
    r = await env.http.post(f"/api/v1/flows/{flow_id}/preview", json={"event_id": event_id})
    assert r.status_code == 200
    assert r.json()["steps"][0]["input"]["togai_account_id"] == "acc_1"
    r = await env.http.post(f"/api/v1/flows/{flow_id}/preview", json={"event_id": 999})
    assert (r.status_code, r.json()["detail"]) == (404, "no event 999")
    # Ids a BIGINT cannot hold are refused by the schema, not a 500 (issue 11).
    for bad in (0, 39848985558025297199104):
        r = await env.http.post(f"/api/v1/flows/{flow_id}/preview", json={"event_id": bad})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "event_id"]
    r = await env.http.post("/api/v1/flows/999/preview", json={"payload": {}})
    assert r.status_code == 404


async def test_template_whose_companion_name_is_taken_creates_nothing(env: Env) -> None:
    togai_id, razorpay_id = await env.connections()
    taken = {
        "name": "Razorpay partially paid → Togai payment",
        "direction": "outbound",
        "trigger": {"connection_id": str(togai_id), "trigger": "account.created"},
        "steps": [
            {"id": "customer", "connection_id": str(razorpay_id), "action": "create_customer"}
        ],
    }
    assert (await env.http.post("/api/v1/flows", json={"definition": taken})).status_code == 201
    r = await env.http.post(
        "/api/v1/flows",
        json={
            "template": "razorpay-invoice-paid-to-togai",
            "connections": {"togai": togai_id, "razorpay": razorpay_id},
        },
    )
    # A name already taken is a conflict with what is stored (409), not invalid input.
    assert r.status_code == 409
    assert "Razorpay partially paid → Togai payment" in r.json()["detail"]
    assert len((await env.http.get("/api/v1/flows")).json()) == 1
