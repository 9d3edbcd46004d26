"""Every flow example in the docs is accepted by POST /api/v1/flows, as it is written (a
bare definition) and wrapped as {"definition": …}."""

from __future__ import annotations

from tests.api.conftest import Env
from tests.docs_examples import flow_examples


async def test_every_docs_flow_example_is_accepted(env: Env) -> None:
    examples = flow_examples()
    assert examples, "no flow example found in the docs"
    # The examples bind connection "1" (Togai) and "2" (Razorpay): a fresh database's ids.
    assert await env.connections() == (1, 2)
    for where, example in examples:
        bare = await env.http.post("/api/v1/flows", json=example)
        assert bare.status_code == 201, (where, bare.text)
        assert bare.json()["definition"]["name"] == example["name"]
        assert bare.json()["enabled"] is False
        deleted = await env.http.delete(f"/api/v1/flows/{bare.json()['id']}")
        assert deleted.status_code == 204

        wrapped = await env.http.post(
            "/api/v1/flows", json={"definition": example, "enabled": True}
        )
        assert wrapped.status_code == 201, (where, wrapped.text)
        assert wrapped.json()["enabled"] is True
        # A new version can be put either way as well.
        again = await env.http.put(f"/api/v1/flows/{wrapped.json()['id']}", json=example)
        assert again.status_code == 200, (where, again.text)
        assert again.json()["current_version"] == 2
        removed = await env.http.delete(f"/api/v1/flows/{wrapped.json()['id']}")
        assert removed.status_code == 204


async def test_bare_definition_with_enabled_and_a_mistake_names_the_field(env: Env) -> None:
    togai_id, razorpay_id = await env.connections()
    body = {
        "name": "Accounts",
        "direction": "outbound",
        "trigger": {"connection_id": togai_id, "trigger": "account.created"},
        "steps": [{"id": "Customer", "connection_id": razorpay_id, "action": "create_customer"}],
        "enabled": True,
    }
    refused = await env.http.post("/api/v1/flows", json=body)
    assert refused.status_code == 422
    assert "definition.steps[0].id" in refused.text
    body["steps"][0]["id"] = "customer"  # type: ignore[index]
    created = await env.http.post("/api/v1/flows", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["enabled"] is True
    assert created.json()["definition"]["trigger"]["connection_id"] == str(togai_id)
