"""/api/v1/reconciliations over a real store, with the engine's comparison replaced by a
test-only in-memory Reconciler (tests/fake_reconciler.py): these tests are about what the
faces store, page, validate and record, not about how both sides are compared."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from billsync import errors
from billsync.api import metrics
from billsync.app import audit
from billsync.engine.reconcile.model import ConnectionPair, FixResult
from tests.api.conftest import TOGAI_VALUES, Env
from tests.fake_reconciler import FakeReconciler


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Env:
    """Every test once on SQLite and once on PostgreSQL."""
    fixture = "env" if request.param == "sqlite" else "pg_env"
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


async def _with_fake(env: Env, *, bound: bool = True) -> tuple[FakeReconciler, int, int]:
    togai, razorpay = await env.connections()
    fake = FakeReconciler([ConnectionPair(togai, razorpay)] if bound else [])
    env.app.reconciliations.reconciler = fake
    return fake, togai, razorpay


async def _finished(env: Env, reconciliation_id: int, **params: Any) -> dict[str, Any]:
    await env.app.reconciliations.wait()
    r = await env.http.get(f"/api/v1/reconciliations/{reconciliation_id}", params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_start_then_read_the_report_in_pages(backend: Env) -> None:
    env = backend
    fake, togai, razorpay = await _with_fake(env)
    fake.gate = asyncio.Event()
    r = await env.http.post(
        "/api/v1/reconciliations",
        json={
            "togai_connection_id": togai,
            "razorpay_connection_id": razorpay,
            "since": "2026-01-01",
        },
    )
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["status"] == "running" and started["ids"] == [started["id"]]
    rid = started["id"]
    running = (await env.http.get(f"/api/v1/reconciliations/{rid}")).json()
    assert running["status"] == "running" and running["summary"] is None
    assert running["items"] == [] and running["origin"] == "api"
    assert running["actor"] == "api:tester"
    # Starting the same pair again answers with the reconciliation already running.
    again = await env.http.post(
        "/api/v1/reconciliations",
        json={"togai_connection_id": togai, "razorpay_connection_id": razorpay},
    )
    assert again.status_code == 202 and again.json()["id"] == rid
    fake.gate.set()

    done = await _finished(env, rid, items_limit=3)
    assert len(fake.compared) == 1
    assert fake.compared[0][1] is not None and fake.compared[0][1].isoformat().startswith(
        "2026-01-01T00:00:00"
    )
    assert done["status"] == "succeeded" and done["finished_at"] is not None
    assert done["since"].startswith("2026-01-01T00:00:00")
    assert done["summary"] == {
        "missing_in_razorpay": 2,
        "missing_in_togai": 1,
        "amount_mismatch": 1,
        "status_mismatch": 1,
        "link_mismatch": 1,
        "orphan": 1,
        "matched": 1,
    }
    assert (done["total"], done["drift"], done["calls"]) == (8, 7, {"togai": 3, "razorpay": 2})
    first = done["items"]
    assert [i["state"] for i in first] == ["matched", "missing_in_razorpay", "missing_in_razorpay"]
    assert first[1] | {"id": 0} == {
        "id": 0,
        "kind": "customer",
        "state": "missing_in_razorpay",
        "togai_id": "acc_2",
        "razorpay_id": None,
        "detail": "no Razorpay customer",
        "fix": "create the Razorpay customer",
        "fixed_at": None,
        "fix_event_id": None,
        "fix_run_ids": [],
        "fix_skipped": None,
    }
    seen = [i["id"] for i in first]
    after = done["next_item_after"]
    while after is not None:
        page = await _finished(env, rid, items_limit=3, items_after=after)
        seen += [i["id"] for i in page["items"]]
        after = page["next_item_after"]
    assert len(seen) == 8 and seen == sorted(seen)

    only = await _finished(env, rid, state=["missing_in_razorpay", "orphan"], kind="customer")
    assert [(i["togai_id"], i["state"]) for i in only["items"]] == [
        ("acc_2", "missing_in_razorpay"),
        ("acc_3", "missing_in_razorpay"),
        ("acc_gone", "orphan"),
    ]
    latest = await env.http.get("/api/v1/reconciliations/latest", params={"kind": "payment"})
    assert latest.status_code == 200
    assert latest.json()["id"] == rid
    assert [i["razorpay_id"] for i in latest.json()["items"]] == ["pay_1"]
    listed = (await env.http.get("/api/v1/reconciliations")).json()
    assert [x["id"] for x in listed] == [rid] and "items" not in listed[0]
    entry = next(e for e in await audit.recent(env.app) if e.action == "reconciliation.start")
    assert entry.target == f"reconciliation:{rid}" and entry.actor == "api:tester"


async def test_every_bound_pair_when_no_ids_are_given(backend: Env) -> None:
    env = backend
    fake, togai, razorpay = await _with_fake(env)
    other = (
        await env.http.post(
            "/api/v1/connections",
            json={
                "app": "togai",
                "name": "Second Togai",
                "values": TOGAI_VALUES,
            },
        )
    ).json()["id"]
    fake.bound.append(ConnectionPair(other, razorpay))
    r = await env.http.post("/api/v1/reconciliations", json={})
    assert r.status_code == 202, r.text
    ids = r.json()["ids"]
    assert len(ids) == 2 and r.json()["id"] == ids[0]
    await env.app.reconciliations.wait()
    pairs = {(p.togai_id, p.razorpay_id) for p, _since in fake.compared}
    assert pairs == {(togai, razorpay), (other, razorpay)}
    only = await env.http.get(
        "/api/v1/reconciliations/latest", params={"togai_connection_id": other}
    )
    assert only.json()["togai_connection_id"] == other


async def test_bad_input_names_the_field(backend: Env) -> None:
    env = backend
    fake, togai, razorpay = await _with_fake(env, bound=False)

    async def problems(body: dict[str, Any]) -> set[str]:
        r = await env.http.post("/api/v1/reconciliations", json=body)
        assert r.status_code == 422, r.text
        return {p.get("field") or ".".join(map(str, p["loc"])) for p in r.json()["detail"]}

    async def conflict(body: dict[str, Any]) -> str:
        # Well-formed, but what is stored does not fit: 409 (the schema cannot know it).
        r = await env.http.post("/api/v1/reconciliations", json=body)
        assert r.status_code == 409, r.text
        return str(r.json()["detail"])

    assert "no enabled flow binds" in await conflict({})
    assert await problems({"togai_connection_id": togai}) == {"razorpay_connection_id"}
    detail = await conflict({"togai_connection_id": razorpay, "razorpay_connection_id": 999})
    assert f"togai_connection_id: connection {razorpay} is a razorpay connection" in detail
    assert "razorpay_connection_id: no connection 999" in detail
    assert await problems(
        {"togai_connection_id": togai, "razorpay_connection_id": razorpay, "since": "yesterday"}
    ) == {"body.since"}
    assert await problems({"pair": 1}) == {"body.pair"}
    r = await env.http.post("/api/v1/reconciliations", content=b"{not json")
    assert r.status_code == 422
    assert fake.compared == []
    assert (await env.http.get("/api/v1/reconciliations")).json() == []
    assert (await env.http.get("/api/v1/reconciliations/latest")).status_code == 404
    assert (await env.http.get("/api/v1/reconciliations/77")).status_code == 404
    r = await env.http.post("/api/v1/reconciliations/77/fix", json={"item_ids": [1]})
    assert r.status_code == 404
    assert (await env.anon.get("/api/v1/reconciliations/latest")).status_code == 401


async def test_fix_selected_items_records_events_and_runs(backend: Env) -> None:
    env = backend
    fake, togai, razorpay = await _with_fake(env)
    rid = (
        await env.http.post(
            "/api/v1/reconciliations",
            json={"togai_connection_id": togai, "razorpay_connection_id": razorpay},
        )
    ).json()["id"]
    items = {i["togai_id"]: i for i in (await _finished(env, rid))["items"]}
    chosen = [items["acc_2"]["id"], items["inv_t_3"]["id"], items["inv_t_4"]["id"]]

    bad = await env.http.post(
        f"/api/v1/reconciliations/{rid}/fix",
        json={"item_ids": [chosen[0], 999_999, items["acc_gone"]["id"]]},
    )
    assert bad.status_code == 409
    assert "item_ids[1]: reconciliation" in bad.json()["detail"]
    assert "item_ids[2]: item" in bad.json()["detail"]
    assert "item_ids[0]" not in bad.json()["detail"]
    assert "no safe fix" in bad.text
    empty = await env.http.post(f"/api/v1/reconciliations/{rid}/fix", json={"item_ids": []})
    assert empty.status_code == 422
    assert fake.fixed == []

    r = await env.http.post(f"/api/v1/reconciliations/{rid}/fix", json={"item_ids": chosen})
    assert r.status_code == 200, r.text
    results = {x["item_id"]: x for x in r.json()["results"]}
    assert [x["item_id"] for x in r.json()["results"]] == chosen
    assert results[chosen[0]]["event_id"] == 1001 and results[chosen[0]]["run_ids"] == [10010]
    assert results[chosen[1]] == {
        "item_id": chosen[1],
        "event_id": None,
        "run_ids": [],
        "skipped": "no longer drifting",
    }
    assert [(i.togai_id, i.state.value) for i in fake.fixed[0][1]] == [
        ("acc_2", "missing_in_razorpay"),
        ("inv_t_3", "link_mismatch"),
        ("inv_t_4", "missing_in_togai"),
    ]
    assert fake.fixed[0][0] == ConnectionPair(togai, razorpay)
    stored = {i["id"]: i for i in (await _finished(env, rid))["items"]}
    assert stored[chosen[0]]["fix_event_id"] == 1001
    assert stored[chosen[0]]["fix_run_ids"] == [10010]
    assert stored[chosen[0]]["fixed_at"] is not None
    assert stored[chosen[1]]["fix_skipped"] == "no longer drifting"
    assert stored[chosen[2]]["fix_event_id"] == 1002
    assert stored[items["acc_3"]["id"]]["fixed_at"] is None
    # Fixing again keeps the event that repaired it when the second fix finds nothing to do.
    fake_results = fake.fix

    async def nothing_left(pair: ConnectionPair, chosen_items: Any) -> Any:
        return [FixResult(i, skipped="no longer drifting") for i in chosen_items]

    fake.fix = nothing_left  # type: ignore[method-assign]
    await env.http.post(f"/api/v1/reconciliations/{rid}/fix", json={"item_ids": chosen[:1]})
    fake.fix = fake_results  # type: ignore[method-assign]
    kept = (await _finished(env, rid))["items"]
    first = next(i for i in kept if i["id"] == chosen[0])
    assert (first["fix_event_id"], first["fix_skipped"]) == (1001, "no longer drifting")
    entry = next(e for e in await audit.recent(env.app) if e.action == "reconciliation.fix")
    assert entry.detail["items"] == chosen[:1]


async def test_a_failing_comparison_is_stored_as_failed_and_cannot_be_fixed(backend: Env) -> None:
    env = backend
    fake, togai, razorpay = await _with_fake(env)
    fake.error = errors.UnavailableError("Razorpay answered 503")
    rid = (await env.http.post("/api/v1/reconciliations", json={})).json()["id"]
    done = await _finished(env, rid)
    assert done["status"] == "failed" and done["error"] == "Razorpay answered 503"
    assert done["items"] == [] and done["summary"] is None
    r = await env.http.post(f"/api/v1/reconciliations/{rid}/fix", json={"item_ids": [1]})
    assert r.status_code == 409 and "failed" in r.json()["detail"]


async def test_gauge_of_items_by_state_per_pair(backend: Env) -> None:
    env = backend
    fake, togai, razorpay = await _with_fake(env)
    empty = (await metrics.render_snapshot(env.app)).decode()
    assert "billsync_reconciliation_items{" not in empty
    first = (await env.http.post("/api/v1/reconciliations", json={})).json()["id"]
    await env.app.reconciliations.wait()
    # A later comparison that fails leaves the gauge on the newest successful one.
    fake.error = errors.UnavailableError("Togai answered 503")
    env.clock.advance(60)
    second = (await env.http.post("/api/v1/reconciliations", json={})).json()["id"]
    await env.app.reconciliations.wait()
    assert second != first
    # The first scrape (the snapshot is cached for a few seconds after it).
    text = (await env.http.get("/metrics")).text
    pair = 'razorpay="razorpay/Razorpay"'
    expected = {
        "missing_in_razorpay": 2,
        "missing_in_togai": 1,
        "amount_mismatch": 1,
        "status_mismatch": 1,
        "link_mismatch": 1,
        "orphan": 1,
        "matched": 1,
    }
    for state, n in expected.items():
        line = f'billsync_reconciliation_items{{{pair},state="{state}",togai="togai/Togai"}}'
        assert f"{line} {float(n)}" in text
    done = await env.app.reconciliations.get(first)
    assert done.finished_at is not None
    stamp = f'billsync_reconciliation_last_success_timestamp_seconds{{{pair},togai="togai/Togai"}} '
    line = next(x for x in text.splitlines() if x.startswith(stamp))
    assert float(line.split()[-1]) == done.finished_at.timestamp()
