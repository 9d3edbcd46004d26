"""Injected faults as the SDK experiences them: 429, HTML 503, 500, lost responses, timeouts."""

from __future__ import annotations

import pytest
import razorpay
import requests
from razorpay.errors import BadRequestError, ServerError

from billsync.sandbox.razorpay import RazorpaySandboxConfig, create_app
from tests.contract.sandbox_razorpay.conftest import KEY_ID, KEY_SECRET, Sandbox


def _client_with_statuses(sandbox: Sandbox) -> tuple[razorpay.Client, list[int]]:
    """An SDK client whose session records each HTTP status (the SDK itself drops it)."""
    statuses: list[int] = []
    session = requests.Session()
    session.hooks["response"].append(lambda response, **_: statuses.append(response.status_code))
    client = razorpay.Client(session=session, auth=(KEY_ID, KEY_SECRET), base_url=sandbox.url)
    return client, statuses


def test_rate_limit_answers_429_with_razorpay_body(sandbox: Sandbox) -> None:
    client, statuses = _client_with_statuses(sandbox)
    sandbox.faults(rate_limit=0.01)

    client.customer.all()
    with pytest.raises(BadRequestError, match="Too many requests"):
        client.customer.all()

    assert statuses == [200, 429]
    sandbox.control.delete("/_sandbox/faults")
    client.customer.all()


def test_gateway_503_is_html_and_surfaces_as_json_decode_error(sandbox: Sandbox) -> None:
    client, statuses = _client_with_statuses(sandbox)
    sandbox.faults(error_rate=1.0, error_status=503)

    with pytest.raises(requests.exceptions.JSONDecodeError):
        client.customer.create({"name": "Never Created"})

    assert statuses == [503]
    response = sandbox.control.get("/v1/customers", auth=(KEY_ID, KEY_SECRET))
    assert response.headers["content-type"].startswith("text/html")
    sandbox.faults(error_rate=0.0)
    # The refused write was not applied.
    assert client.customer.all()["count"] == 0


def test_500_is_a_server_error(sandbox: Sandbox, client: razorpay.Client) -> None:
    sandbox.faults(error_rate=1.0, error_status=500)
    with pytest.raises(ServerError):
        client.customer.all()


def test_lost_response_applies_the_write(sandbox: Sandbox, client: razorpay.Client) -> None:
    sandbox.faults(lost_response_rate=1.0)

    with pytest.raises(requests.exceptions.ConnectionError):
        client.customer.create(
            {"name": "Lost Answer", "email": "lost@example.com", "contact": "+919800000001"},
            timeout=5,
        )

    sandbox.control.delete("/_sandbox/faults")
    # The natural key finds what the lost request created.
    again = client.customer.create(
        {
            "name": "Lost Answer",
            "email": "lost@example.com",
            "contact": "+919800000001",
            "fail_existing": "0",
        }
    )
    assert client.customer.all()["items"] == [again]
    stats = sandbox.control.get("/_sandbox/stats").json()
    assert stats["requests"]["POST /v1/customers"]["lost"] == 1


def test_timeout_holds_the_request_without_applying_it(
    sandbox: Sandbox, client: razorpay.Client
) -> None:
    sandbox.faults(timeout_rate=1.0, timeout_seconds=5)
    with pytest.raises(requests.exceptions.Timeout):
        client.customer.create({"name": "Timed Out"}, timeout=0.3)
    sandbox.control.delete("/_sandbox/faults")
    assert client.customer.all()["count"] == 0


def test_latency_and_fault_settings_round_trip(sandbox: Sandbox) -> None:
    sandbox.faults(latency_ms=5)
    settings = sandbox.control.get("/_sandbox/faults").json()
    assert settings["latency_ms"] == 5
    refused = sandbox.post("/faults", {"error_status": 418})
    assert refused.status_code == 400


def test_startup_flags_become_the_fault_baseline() -> None:
    app = create_app(RazorpaySandboxConfig(latency_ms=7, rate_limit=3))
    assert (app.faults.latency_ms, app.faults.rate_limit) == (7, 3)
