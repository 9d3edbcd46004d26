"""/api/v1/apps and /api/v1/connections against the in-process sandboxes."""

from __future__ import annotations

from typing import Any

import httpx

from billsync.app import audit
from tests.api.conftest import RAZORPAY_VALUES, TOGAI_TOKEN, TOGAI_VALUES, Env


def _fields(r: Any) -> set[str]:
    return {item["field"] for item in r.json()["detail"]}


async def test_apps_catalogue_lists_fields_triggers_actions(env: Env) -> None:
    r = await env.http.get("/api/v1/apps")
    assert r.status_code == 200
    apps = {a["name"]: a for a in r.json()}
    assert set(apps) == {"togai", "razorpay"}
    secret = {f["name"] for f in apps["razorpay"]["fields"] if f["secret"]}
    assert secret == {"key_secret", "webhook_secret"}
    assert "account.created" in {t["key"] for t in apps["togai"]["triggers"]}
    assert "create_customer" in {a["key"] for a in apps["razorpay"]["actions"]}


async def test_create_verifies_then_saves_and_never_shows_secrets(env: Env) -> None:
    r = await env.http.post(
        "/api/v1/connections",
        json={"app": "razorpay", "name": "Main", "values": RAZORPAY_VALUES},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["webhook_url"] == f"http://billsync.test/webhooks/razorpay/{body['id']}"
    assert body["options"] == {
        "key_id": RAZORPAY_VALUES["key_id"],
        "base_url": "https://razorpay.test",
        "sandbox": "no",
        "poll_interval": "60",
    }
    for secret in (RAZORPAY_VALUES["key_secret"], RAZORPAY_VALUES["webhook_secret"]):
        assert secret not in r.text
        assert secret not in (await env.http.get(f"/api/v1/connections/{body['id']}")).text
        assert secret not in (await env.http.get("/api/v1/connections")).text
    entries = await audit.recent(env.app)
    assert (entries[0].actor, entries[0].action) == ("api:tester", "connection.create")
    assert RAZORPAY_VALUES["key_secret"] not in str(entries[0].detail)


async def test_togai_webhook_url_carries_a_token(env: Env) -> None:
    r = await env.http.post(
        "/api/v1/connections", json={"app": "togai", "name": "T", "values": TOGAI_VALUES}
    )
    assert r.status_code == 201
    url = r.json()["webhook_url"]
    assert url.startswith(f"http://billsync.test/webhooks/togai/{r.json()['id']}/")
    assert TOGAI_TOKEN not in r.text


async def test_rejected_credentials_are_422_and_nothing_is_saved(env: Env) -> None:
    values = {**TOGAI_VALUES, "api_token": "wrong"}
    r = await env.http.post(
        "/api/v1/connections", json={"app": "togai", "name": "T", "values": values}
    )
    assert r.status_code == 422
    assert _fields(r) == {"values"}
    assert (await env.http.get("/api/v1/connections")).json() == []


async def test_missing_and_unknown_fields_are_named(env: Env) -> None:
    r = await env.http.post(
        "/api/v1/connections", json={"app": "razorpay", "name": "R", "values": {}}
    )
    assert r.status_code == 422
    assert _fields(r) == {"values.key_id", "values.key_secret"}
    r = await env.http.post("/api/v1/connections", json={"app": "nope", "name": "R", "values": {}})
    assert r.status_code == 422
    assert _fields(r) == {"app"}
    r = await env.http.post("/api/v1/connections", json={"app": "togai"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "name"]


async def test_duplicate_name_is_409(env: Env) -> None:
    await env.connections()
    r = await env.http.post(
        "/api/v1/connections", json={"app": "togai", "name": "Togai", "values": TOGAI_VALUES}
    )
    assert r.status_code == 409
    assert r.json()["detail"] == "a togai connection named 'Togai' already exists"


async def test_schema_rules_are_enforced_as_stated(env: Env) -> None:
    # Issue 11 (schemathesis): what the schema forbids is refused, what it allows accepted.
    togai_id, _ = await env.connections()
    r = await env.http.patch(f"/api/v1/connections/{togai_id}", json={"rate_limit": False})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "rate_limit"]
    r = await env.http.patch(f"/api/v1/connections/{togai_id}", json={"rate_limit": 3})
    assert r.status_code == 200 and r.json()["rate_limit"] == 3
    r = await env.http.get("/api/v1/runs", params={"until": "0.5"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "until"]
    r = await env.http.get("/api/v1/runs", params={"until": "2026-01-01T00:00:00Z"})
    assert r.status_code == 200
    r = await env.http.post("/api/v1/flows", json={})
    assert r.status_code == 422
    # Methods a path does not have: 405 naming every method it has.
    for path, allowed in (
        ("/api/v1/connections", "GET, POST"),
        (f"/api/v1/connections/{togai_id}", "DELETE, GET, PATCH"),
        ("/api/v1/flows", "GET, POST"),
        ("/api/v1/flows/1", "DELETE, GET, PUT"),
    ):
        r = await env.http.options(path)
        assert (r.status_code, r.headers["allow"]) == (405, allowed), path


async def test_get_update_test_delete(env: Env) -> None:
    togai_id, _ = await env.connections()
    assert (await env.http.get("/api/v1/connections/999")).status_code == 404
    r = await env.http.patch(
        f"/api/v1/connections/{togai_id}", json={"name": "Billing", "rate_limit": 5}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["rate_limit"]) == ("Billing", 5)
    r = await env.http.patch(
        f"/api/v1/connections/{togai_id}", json={"values": {"api_token": "bad"}}
    )
    assert r.status_code == 422
    # The refused token was not saved: the stored credentials still work.
    r = await env.http.post(f"/api/v1/connections/{togai_id}/test")
    assert r.json() == {"ok": True, "error": None}
    assert (await env.http.post("/api/v1/connections/999/test")).status_code == 404
    assert (await env.http.patch("/api/v1/connections/999", json={})).status_code == 404
    r = await env.http.delete(f"/api/v1/connections/{togai_id}")
    assert r.status_code == 204
    assert (await env.http.get(f"/api/v1/connections/{togai_id}")).status_code == 404
    assert (await env.http.delete(f"/api/v1/connections/{togai_id}")).status_code == 404
    actions = [e.action for e in await audit.recent(env.app, target=f"connection:{togai_id}")]
    assert actions == ["connection.delete", "connection.update", "connection.create"]


async def test_test_reports_an_unavailable_app_as_not_ok(env: Env) -> None:
    togai_id, _ = await env.connections()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=env.togai), base_url="http://togai.test"
    ) as control:
        r = await control.post("/_sandbox/faults", json={"error_rate": 1.0, "error_status": 503})
        assert r.status_code == 200, r.text
    r = await env.http.post(f"/api/v1/connections/{togai_id}/test")
    assert r.status_code == 200
    assert r.json()["ok"] is False
    assert r.json()["error"]
    assert TOGAI_TOKEN not in r.text


async def test_delete_refused_while_a_flow_uses_it(env: Env) -> None:
    togai_id, razorpay_id = await env.connections()
    r = await env.http.post(
        "/api/v1/flows",
        json={
            "template": "togai-account-to-razorpay-customer",
            "connections": {"togai": togai_id, "razorpay": razorpay_id},
        },
    )
    assert r.status_code == 201
    r = await env.http.delete(f"/api/v1/connections/{razorpay_id}")
    assert r.status_code == 409
    assert "Togai account → Razorpay customer" in r.json()["detail"]


async def test_rotate_webhook_secret(env: Env) -> None:
    togai_id, razorpay_id = await env.connections()
    before = (await env.http.get(f"/api/v1/connections/{togai_id}")).json()["webhook_url"]
    r = await env.http.post(f"/api/v1/connections/{togai_id}/rotate-webhook-secret", json={})
    assert r.status_code == 200
    assert r.json()["webhook_url"] != before
    # The body each app takes is the stored connection's business: the wrong one is 409
    # (the OpenAPI document cannot say which connection id is which app's).
    r = await env.http.post(f"/api/v1/connections/{razorpay_id}/rotate-webhook-secret", json={})
    assert r.status_code == 409
    assert "webhook_secret" in r.json()["detail"]
    r = await env.http.post(
        f"/api/v1/connections/{togai_id}/rotate-webhook-secret", json={"webhook_secret": "s"}
    )
    assert r.status_code == 409
    assert "URL token" in r.json()["detail"]
    r = await env.http.post(
        f"/api/v1/connections/{razorpay_id}/rotate-webhook-secret",
        json={"webhook_secret": "new-secret-value"},
    )
    assert r.status_code == 200
    assert "new-secret-value" not in r.text
    r = await env.http.post("/api/v1/connections/999/rotate-webhook-secret", json={})
    assert r.status_code == 404
    actions = [e.action for e in await audit.recent(env.app, limit=2)]
    assert actions == ["connection.rotate_webhook_secret"] * 2


async def test_unreachable_app_is_502_and_nothing_is_saved(env: Env) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=env.togai), base_url="http://togai.test"
    ) as control:
        await control.post("/_sandbox/faults", json={"error_rate": 1.0, "error_status": 503})
    r = await env.http.post(
        "/api/v1/connections", json={"app": "togai", "name": "T", "values": TOGAI_VALUES}
    )
    assert r.status_code == 502
    assert TOGAI_TOKEN not in r.text
    assert (await env.http.get("/api/v1/connections")).json() == []
