"""/api/v1/runs (filters, detail, replay, cancel) and /api/v1/events."""

from __future__ import annotations

from typing import Any

from billsync.app import audit
from billsync.store import steps
from billsync.store.status import AttemptOutcome, StepStatus
from tests.api.conftest import Env


async def _flow(env: Env) -> tuple[int, int]:
    togai_id, razorpay_id = await env.connections()
    r = await env.http.post(
        "/api/v1/flows",
        json={
            "template": "togai-account-to-razorpay-customer",
            "connections": {"togai": togai_id, "razorpay": razorpay_id},
        },
    )
    assert r.status_code == 201
    return togai_id, r.json()["id"]


def _ids(r: Any) -> list[int]:
    assert r.status_code == 200, r.text
    return [item["id"] for item in r.json()]


async def test_list_filters(env: Env) -> None:
    togai_id, flow_id = await _flow(env)
    _, first = await env.event_with_run(togai_id, flow_id, "e1", "togai-account:acc_1")
    env.clock.advance(3600)
    _, second = await env.event_with_run(togai_id, flow_id, "e2", "togai-account:acc_2")
    await env.fail_run(first)
    assert _ids(await env.http.get("/api/v1/runs")) == [second, first]
    assert _ids(await env.http.get("/api/v1/runs", params={"status": "failed"})) == [first]
    assert _ids(await env.http.get("/api/v1/runs", params={"entity": "acc_2"})) == [second]
    by_key = await env.http.get("/api/v1/runs", params={"entity": "togai-account:acc_1"})
    assert _ids(by_key) == [first]
    assert _ids(await env.http.get("/api/v1/runs", params={"flow_id": flow_id + 1})) == []
    since = "2026-01-01T00:30:00Z"
    assert _ids(await env.http.get("/api/v1/runs", params={"since": since})) == [second]
    # An offset-less timestamp is read as UTC.
    until = "2026-01-01T00:30:00"
    assert _ids(await env.http.get("/api/v1/runs", params={"until": until})) == [first]
    page = await env.http.get("/api/v1/runs", params={"limit": 1})
    assert _ids(page) == [second]
    after = await env.http.get("/api/v1/runs", params={"limit": 1, "before_id": second})
    assert _ids(after) == [first]
    r = await env.http.get("/api/v1/runs", params={"status": "bogus", "limit": 0})
    assert r.status_code == 422
    assert {tuple(d["loc"]) for d in r.json()["detail"]} == {
        ("query", "status"),
        ("query", "limit"),
    }


async def test_detail_shows_steps_and_attempts(env: Env) -> None:
    togai_id, flow_id = await _flow(env)
    _, run_id = await env.event_with_run(togai_id, flow_id, "e1", "togai-account:acc_1")
    now = env.clock.now()
    async with env.app.db.write() as session:
        attempt_id = await steps.begin_attempt(session, run_id, 0, number=1, now=now)
        await steps.finish_attempt(
            session,
            attempt_id,
            outcome=AttemptOutcome.RETRY,
            now=now,
            error_class="UnavailableError",
            message="503 from razorpay",
        )
        await steps.save(
            session,
            run_id,
            0,
            step_id="customer",
            action="razorpay.create_customer",
            connection_id=None,
            status=StepStatus.RETRY_WAIT,
            now=now,
            input={"togai_account_id": "acc_1"},
            error="503 from razorpay",
            new_attempt=True,
        )
    r = await env.http.get(f"/api/v1/runs/{run_id}")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "queued"
    [step] = body["steps"]
    assert (step["step_id"], step["status"], step["input"]) == (
        "customer",
        "retry_wait",
        {"togai_account_id": "acc_1"},
    )
    assert [(a["attempt"], a["outcome"], a["error_class"]) for a in step["attempts"]] == [
        (1, "retry", "UnavailableError")
    ]
    assert (await env.http.get("/api/v1/runs/999")).status_code == 404


async def test_replay_and_cancel(env: Env) -> None:
    togai_id, flow_id = await _flow(env)
    _, dead = await env.event_with_run(togai_id, flow_id, "e1", "togai-account:acc_1")
    _, queued = await env.event_with_run(togai_id, flow_id, "e2", "togai-account:acc_2")
    await env.fail_run(dead, dead=True)
    r = await env.http.post(f"/api/v1/runs/{queued}/replay")
    assert r.status_code == 409
    assert "queued" in r.json()["detail"]
    r = await env.http.post(f"/api/v1/runs/{dead}/replay")
    assert (r.status_code, r.json()["status"]) == (200, "queued")
    r = await env.http.post(f"/api/v1/runs/{queued}/cancel")
    assert (r.status_code, r.json()["status"]) == (200, "cancelled")
    assert (await env.http.post(f"/api/v1/runs/{queued}/cancel")).status_code == 409
    for path in ("replay", "cancel"):
        assert (await env.http.post(f"/api/v1/runs/999/{path}")).status_code == 404
    entries = await audit.recent(env.app, limit=2)
    assert [(e.action, e.target, e.actor) for e in entries] == [
        ("run.cancel", f"run:{queued}", "api:tester"),
        ("run.replay", f"run:{dead}", "api:tester"),
    ]
    assert entries[1].detail == {"from": "dead"}


async def test_events_list_and_detail(env: Env) -> None:
    togai_id, flow_id = await _flow(env)
    event_id, run_id = await env.event_with_run(togai_id, flow_id, "e1", "togai-account:acc_1")
    r = await env.http.get("/api/v1/events")
    assert _ids(r) == [event_id]
    assert r.json()[0]["trigger"] == "account.created"
    assert "payload" not in r.json()[0]
    assert _ids(await env.http.get("/api/v1/events", params={"status": "processed"})) == []
    assert _ids(await env.http.get("/api/v1/events", params={"connection_id": togai_id})) == [
        event_id
    ]
    r = await env.http.get(f"/api/v1/events/{event_id}")
    assert r.status_code == 200
    assert r.json()["payload"]["account"]["id"] == "acc_1"
    assert [run["id"] for run in r.json()["runs"]] == [run_id]
    assert (await env.http.get("/api/v1/events/999")).status_code == 404
