"""Admin tokens guard everything but health, metrics and webhooks."""

from __future__ import annotations

import pytest

from billsync.app import audit, tokens
from tests.api.conftest import Env

GUARDED = [
    ("GET", "/api/v1/apps"),
    ("GET", "/api/v1/connections"),
    ("GET", "/api/v1/connections/1"),
    ("POST", "/api/v1/connections"),
    ("GET", "/api/v1/flows"),
    ("GET", "/api/v1/templates"),
    ("GET", "/api/v1/runs"),
    ("POST", "/api/v1/runs/1/replay"),
    ("GET", "/api/v1/events"),
    ("GET", "/api/v1/mappings"),
    ("GET", "/api/v1/audit"),
]


@pytest.mark.parametrize(("method", "path"), GUARDED)
async def test_no_token_is_401(env: Env, method: str, path: str) -> None:
    r = await env.anon.request(method, path)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert "token" in r.json()["detail"]


@pytest.mark.parametrize(
    "header",
    ["Bearer bst_not-a-real-token", "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer"],
)
async def test_bad_token_is_401(env: Env, header: str) -> None:
    r = await env.anon.get("/api/v1/flows", headers={"Authorization": header})
    assert r.status_code == 401


async def test_revoked_token_is_401(env: Env) -> None:
    _, token = await tokens.create(env.app, "short-lived")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await env.anon.get("/api/v1/flows", headers=headers)).status_code == 200
    assert await tokens.revoke(env.app, "short-lived")
    assert (await env.anon.get("/api/v1/flows", headers=headers)).status_code == 401


async def test_health_and_webhooks_need_no_token_metrics_does(env: Env) -> None:
    health = await env.anon.get("/api/v1/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert (await env.anon.get("/metrics")).status_code == 401
    assert (await env.http.get("/metrics")).status_code == 200
    # A webhook without a valid signature is refused by intake (401, the same answer as
    # for a connection that does not exist), not by the admin-token check.
    hook = await env.anon.post("/webhooks/razorpay/99", content=b"{}")
    assert hook.status_code == 401


async def test_token_use_is_recorded_and_changes_name_the_token(env: Env) -> None:
    r = await env.http.post("/api/v1/flows/1/enable")
    assert r.status_code == 404
    listed = await tokens.list_all(env.app)
    assert [t.name for t in listed] == ["tester"]
    assert listed[0].last_used_at is not None
    entries = await audit.recent(env.app)
    assert entries[0].action == "token.create"
    assert entries[0].target == "token:tester"


async def test_last_used_at_is_written_at_most_once_a_minute(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = 0
    original = env.app.db.write

    def counting_write(*args: object, **kw: object) -> object:
        nonlocal writes
        writes += 1
        return original(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(env.app.db, "write", counting_write)
    first = (await env.http.get("/api/v1/flows")).status_code
    used = (await tokens.list_all(env.app))[0].last_used_at
    for _ in range(3):
        assert (await env.http.get("/api/v1/flows")).status_code == 200
    assert first == 200 and writes == 1  # only the first request noted the time
    assert (await tokens.list_all(env.app))[0].last_used_at == used == env.clock.now()
    env.clock.advance(61)
    assert (await env.http.get("/api/v1/flows")).status_code == 200
    assert writes == 2
    assert (await tokens.list_all(env.app))[0].last_used_at == env.clock.now()


async def test_openapi_and_docs_are_served(env: Env) -> None:
    schema = (await env.anon.get("/openapi.json")).json()
    assert "AdminToken" in schema["components"]["securitySchemes"]
    runs = schema["paths"]["/api/v1/runs/{run_id}/replay"]["post"]
    assert {"200", "401", "404", "409", "422"} <= set(runs["responses"])
    assert runs["security"] == [{"AdminToken": []}]
    assert "security" not in schema["paths"]["/api/v1/health"]["get"]
    assert (await env.anon.get("/docs")).status_code == 200


async def test_refused_tokens_are_throttled_per_address(env: Env) -> None:
    _, token = await tokens.create(env.app, "good")
    good = {"Authorization": f"Bearer {token}"}
    wrong = {"Authorization": "Bearer bst_guess"}
    for _ in range(env.app.settings.auth_failures):
        assert (await env.anon.get("/api/v1/flows", headers=wrong)).status_code == 401
    # Over the limit: 429 with Retry-After, whatever the token (it is not even checked).
    for headers in (wrong, good):
        r = await env.anon.get("/api/v1/flows", headers=headers)
        assert r.status_code == 429, r.text
        assert 0 < int(r.headers["retry-after"]) <= 300
    # No token is no guess: still the plain 401.
    assert (await env.anon.get("/api/v1/flows")).status_code == 401
    document = (await env.http.get("/openapi.json")).json()
    assert "429" in document["paths"]["/api/v1/flows"]["get"]["responses"]
