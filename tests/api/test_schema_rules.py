"""The OpenAPI document states the rules the endpoints enforce (issue 11, item 10): each
app's connection values (required, unknown, bounded, patterns), ids a double holds exactly,
and the refusals that depend on stored state answer 409, not 422."""

from __future__ import annotations

import re
from typing import Any

import pytest

from billsync.api.schemas.common import MAX_ID
from billsync.app import connection_admin, connection_fields
from billsync.app import connections as connection_ops
from billsync.app import flows as flow_ops
from billsync.engine.flow import STEP_ID_PATTERN
from billsync.engine.templates import list_templates
from tests.api.conftest import RAZORPAY_VALUES, TOGAI_VALUES, Env


def _fields(r: Any) -> set[str]:
    return {item["field"] for item in r.json()["detail"]}


async def _schemas(env: Env) -> dict[str, Any]:
    r = await env.http.get("/openapi.json")
    assert r.status_code == 200
    schemas: dict[str, Any] = r.json()["components"]["schemas"]
    return schemas


async def test_the_document_states_each_apps_connection_values(env: Env) -> None:
    schemas = await _schemas(env)
    create = schemas["ConnectionCreate"]
    assert create["discriminator"]["propertyName"] == "app"
    assert set(create["discriminator"]["mapping"]) == {"togai", "razorpay"}
    togai = schemas["TogaiConnectionValues"]
    assert togai["required"] == ["api_token"]
    assert togai["additionalProperties"] is False
    razorpay = schemas["RazorpayConnectionValues"]
    assert razorpay["required"] == ["key_id", "key_secret"]
    for values in (togai, razorpay):
        for name, field in values["properties"].items():
            assert "maxLength" in field or "enum" in field, name
    update = schemas["RazorpayConnectionValuesUpdate"]
    assert "required" not in update
    assert update["dependentRequired"] == {"base_url": ["key_secret"]}
    assert razorpay["properties"]["poll_interval"]["pattern"].startswith("^")


async def test_every_value_is_length_bounded(env: Env) -> None:
    long_token = "t" * (connection_fields.MAX_VALUE_LENGTH + 1)
    r = await env.http.post(
        "/api/v1/connections",
        json={"app": "togai", "name": "T", "values": {**TOGAI_VALUES, "api_token": long_token}},
    )
    assert r.status_code == 422, r.text
    assert _fields(r) == {"values.api_token"}
    r = await env.http.post(
        "/api/v1/connections",
        json={
            "app": "razorpay",
            "name": "R",
            "values": {**RAZORPAY_VALUES, "webhook_secret": "w" * 1025},
        },
    )
    assert r.status_code == 422, r.text
    assert _fields(r) == {"values.webhook_secret"}
    assert (await env.http.get("/api/v1/connections")).json() == []


async def test_required_unknown_and_malformed_values_are_named_at_once(env: Env) -> None:
    r = await env.http.post(
        "/api/v1/connections",
        json={
            "app": "razorpay",
            "name": "R",
            "values": {"key_id": "has space", "poll_interval": "1.5", "colour": "red"},
        },
    )
    assert r.status_code == 422, r.text
    assert _fields(r) == {
        "values.colour",
        "values.key_id",
        "values.key_secret",
        "values.poll_interval",
    }
    r = await env.http.post("/api/v1/connections", json={"app": "stripe", "name": "S"})
    assert r.status_code == 422
    assert _fields(r) == {"app"}


async def test_a_base_url_is_a_host_as_the_pattern_says(env: Env) -> None:
    pattern = (await _schemas(env))["TogaiConnectionValues"]["properties"]["base_url"]["pattern"]
    for url, ok in (
        ("https://togai.test", True),
        ("https://togai.test:8443/", True),
        ("https://togai.test/v1", False),
        ("https://togai.test?x=1", False),
        ("https://u:p@togai.test", False),
        ("https://tögai.test", False),
    ):
        assert bool(re.search(pattern, url)) is ok, url
        r = await env.http.post(
            "/api/v1/connections",
            json={"app": "togai", "name": url, "values": {**TOGAI_VALUES, "base_url": url}},
        )
        assert (r.status_code == 201) is ok, (url, r.text)
        if not ok:
            assert _fields(r) == {"values.base_url"}, url


async def test_http_needs_sandbox_yes_in_the_same_values(env: Env) -> None:
    togai = await connection_ops.create(env.app, app_name="togai", name="T", values=TOGAI_VALUES)
    url = f"/api/v1/connections/{togai.id}"
    local = {"base_url": "http://127.0.0.1:9", "api_token": TOGAI_VALUES["api_token"]}
    r = await env.http.patch(url, json={"values": local})
    assert r.status_code == 422
    assert _fields(r) == {"values.base_url"}
    r = await env.http.patch(url, json={"values": {**local, "sandbox": "yes"}})
    assert r.status_code == 200, r.text
    # Valid on its own, but not with the stored http:// base_url: a state conflict.
    r = await env.http.patch(url, json={"values": {"sandbox": "no"}})
    assert r.status_code == 409, r.text
    assert "https" in r.json()["detail"]


async def test_another_apps_values_are_a_conflict_with_the_stored_app(env: Env) -> None:
    togai = await connection_ops.create(env.app, app_name="togai", name="T", values=TOGAI_VALUES)
    r = await env.http.patch(
        f"/api/v1/connections/{togai.id}", json={"values": {"poll_interval": "30"}}
    )
    assert r.status_code == 409, r.text
    assert "togai connection" in r.json()["detail"]
    r = await env.http.patch(
        f"/api/v1/connections/{togai.id}", json={"values": {"no_such_field": "x"}}
    )
    assert r.status_code == 422
    assert _fields(r) == {"values.no_such_field"}


async def test_ids_in_bodies_are_bounded_by_exact_integers(env: Env) -> None:
    schemas = await _schemas(env)
    preview = schemas["FlowPreviewRequest"]["properties"]["event_id"]["anyOf"][0]
    assert preview["minimum"] == 1
    assert preview["maximum"] == MAX_ID
    assert float(MAX_ID) == MAX_ID  # a double holds it, and every integer below it
    items = schemas["FixRequest"]["properties"]["item_ids"]["items"]
    assert items["maximum"] == MAX_ID
    r = await env.http.post("/api/v1/flows/1/preview", json={"event_id": MAX_ID + 1})
    assert r.status_code == 422


async def test_a_flow_definitions_shape_is_in_the_document(env: Env) -> None:
    schemas = await _schemas(env)
    definition = schemas["FlowUpdate"]["properties"]["definition"]
    assert definition["required"] == ["name", "direction", "trigger", "steps"]
    assert definition["additionalProperties"] is False
    steps = definition["properties"]["steps"]
    assert steps["minItems"] == 1
    assert steps["items"]["properties"]["id"]["pattern"] == STEP_ID_PATTERN
    preview = schemas["FlowPreviewRequest"]["properties"]["definition"]["anyOf"][0]
    assert preview == definition


async def test_preview_of_an_empty_definition_is_refused_not_the_stored_one(env: Env) -> None:
    togai, razorpay = await env.connections()
    flow = await flow_ops.create_from_template(
        env.app, "togai-account-to-razorpay-customer", {"togai": togai, "razorpay": razorpay}
    )
    r = await env.http.post(
        f"/api/v1/flows/{flow.id}/preview", json={"definition": {}, "payload": {}}
    )
    assert r.status_code == 422, r.text
    assert "definition.name" in _fields(r)


async def test_each_templates_connections_and_options_are_in_the_document(env: Env) -> None:
    branches = (await _schemas(env))["FlowCreate"]["oneOf"]
    by_key = {b["properties"]["template"]["const"]: b for b in branches[:-1]}
    assert set(by_key) == {t.key for t in list_templates()}
    for template in list_templates():
        branch = by_key[template.key]["properties"]
        assert branch["connections"]["required"] == list(template.apps)
        assert set(branch["options"]["properties"]) == {o.key for o in template.options}
    assert branches[-1]["required"] == ["definition"]
    togai, razorpay = await env.connections()
    for body in (
        {"template": "no-such-template", "connections": {"togai": togai}},
        {"template": "togai-account-to-razorpay-customer", "connections": {"togai": togai}},
        {
            "template": "togai-account-to-razorpay-customer",
            "connections": {"togai": togai, "razorpay": 0},
        },
        {
            "template": "togai-account-to-razorpay-customer",
            "connections": {"togai": togai, "razorpay": razorpay},
            "options": {"no_such_option": True},
        },
    ):
        r = await env.http.post("/api/v1/flows", json=body)
        assert r.status_code == 422, (body, r.text)


async def test_connection_names_are_bounded_on_every_face(env: Env) -> None:
    # The app operation (CLI, UI) refuses what the column cannot hold, before the database.
    too_long = "n" * (connection_ops.MAX_NAME_LENGTH + 1)
    with pytest.raises(connection_ops.InvalidConnectionError) as refused:
        await connection_ops.create(env.app, app_name="togai", name=too_long, values=TOGAI_VALUES)
    assert refused.value.field == "name"
    togai = await connection_ops.create(env.app, app_name="togai", name="T", values=TOGAI_VALUES)
    with pytest.raises(connection_ops.InvalidConnectionError):
        await connection_admin.update(env.app, togai.id, name="   ")
    r = await env.http.patch(f"/api/v1/connections/{togai.id}", json={"name": " "})
    assert r.status_code == 422
    assert (await env.http.get(f"/api/v1/connections/{togai.id}")).json()["name"] == "T"
