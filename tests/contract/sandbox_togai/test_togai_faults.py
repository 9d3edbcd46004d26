"""Faults as the official client and httpx see them over a real socket."""

from __future__ import annotations

import json

import httpx
import pytest
import togai_client
import urllib3
from togai_client.exceptions import ApiException, ServiceException

from tests.contract.sandbox_togai.conftest import Sandbox, new_customer


def test_rate_limit_answers_429_in_togai_shape(
    sandbox: Sandbox, api: togai_client.ApiClient
) -> None:
    r = sandbox.control("POST", "/faults", json={"rate_limit": 1})
    assert r.status_code == 200 and r.json()["rate_limit"] == 1
    customers = togai_client.CustomersApi(api)
    customers.get_customers()
    with pytest.raises(ApiException) as err:
        customers.get_customers()
    assert err.value.status == 429 and err.value.data.message == "Too many requests"
    assert "retry-after" not in err.value.headers  # Togai documents none
    stats = sandbox.control("GET", "/stats").json()
    assert stats["requests"]["GET /customers"] == {"200": 1, "429": 1}


def test_retry_after_is_optional(sandbox: Sandbox) -> None:
    # Not through the official client: urllib3 sleeps and retries on 429 + Retry-After.
    sandbox.control("POST", "/faults", json={"rate_limit": 1, "retry_after": 3})
    with sandbox.http() as http:
        http.get("/customers")
        r = http.get("/customers")
    assert r.status_code == 429 and r.headers["retry-after"] == "3"


def test_the_client_retries_a_429_with_retry_after_on_get_only(
    sandbox: Sandbox, api: togai_client.ApiClient
) -> None:
    """urllib3's default Retry (under togai-client) sleeps Retry-After and resends idempotent
    methods (GET here); a POST or PATCH gets the 429 at once."""
    new_customer(api, "ACME")
    # One token every 2 s: the second GET meets an empty bucket, waits the 2 s it is told.
    sandbox.control("POST", "/faults", json={"rate_limit": 0.5, "retry_after": 2})
    customers = togai_client.CustomersApi(api)
    customers.get_customers()
    assert customers.get_customers().data[0].id == "ACME"  # a 429 first, then the retry
    statuses = sandbox.control("GET", "/stats").json()["requests"]["GET /customers"]
    assert statuses["200"] == 2 and statuses["429"] >= 1

    sandbox.control("POST", "/faults", json={"rate_limit": 0.001, "retry_after": 1})
    customers.get_customer("ACME")  # spends the one token
    with pytest.raises(ApiException) as post:
        new_customer(api, "GLOBEX")
    assert post.value.status == 429
    with pytest.raises(ApiException) as patch:
        customers.update_customer("ACME", togai_client.models.UpdateCustomerRequest(name="Renamed"))
    assert patch.value.status == 429
    stats = sandbox.control("GET", "/stats").json()["requests"]
    assert stats["POST /customers"]["429"] == 1  # not resent
    assert stats["PATCH /customers/{customer_id}"] == {"429": 1}


def test_503_answers_an_html_gateway_page(sandbox: Sandbox, api: togai_client.ApiClient) -> None:
    sandbox.control("POST", "/faults", json={"error_rate": 1.0, "error_status": 503})
    with pytest.raises(ServiceException) as err:
        new_customer(api, "ACME")
    assert err.value.status == 503 and "<html>" in err.value.body
    sandbox.control("DELETE", "/faults")
    with pytest.raises(togai_client.exceptions.NotFoundException):  # the write was not applied
        togai_client.CustomersApi(api).get_customer("ACME")


def test_500_answers_togai_json(sandbox: Sandbox, api: togai_client.ApiClient) -> None:
    sandbox.control("POST", "/faults", json={"error_rate": 1.0, "error_status": 500})
    with pytest.raises(ServiceException) as err:
        togai_client.CustomersApi(api).get_customers()
    assert err.value.status == 500 and json.loads(err.value.body) == {
        "message": "Internal server error"
    }


def test_lost_response_is_applied_but_unanswered(
    sandbox: Sandbox, api: togai_client.ApiClient
) -> None:
    sandbox.control("POST", "/faults", json={"lost_response_rate": 1.0})
    with sandbox.http() as http, pytest.raises(httpx.RemoteProtocolError):
        http.post(
            "/customers",
            json={"id": "ACME", "name": "ACME", "primaryEmail": "a@b.c", "address": {}},
        )
    with pytest.raises(urllib3.exceptions.HTTPError):  # the official client (urllib3)
        new_customer(api, "GLOBEX")
    sandbox.control("DELETE", "/faults")
    customers = togai_client.CustomersApi(api)
    assert [c.id for c in customers.get_customers().data] == ["ACME", "GLOBEX"]
    assert sandbox.control("GET", "/stats").json()["requests"]["POST /customers"] == {"lost": 2}


def test_timeout_holds_the_request_and_does_not_apply_it(sandbox: Sandbox) -> None:
    sandbox.control("POST", "/faults", json={"timeout_rate": 1.0, "timeout_seconds": 30})
    with sandbox.http() as http, pytest.raises(httpx.ReadTimeout):
        http.post(
            "/customers",
            json={"id": "ACME", "name": "ACME", "primaryEmail": "a@b.c", "address": {}},
            timeout=0.3,
        )
    sandbox.control("DELETE", "/faults")
    with sandbox.http() as http:
        assert http.get("/customers/ACME").status_code == 404


def test_latency_and_seeded_error_rate(sandbox: Sandbox) -> None:
    sandbox.control("POST", "/faults", json={"latency_ms": 1, "error_rate": 0.5, "seed": 4})
    with sandbox.http() as http:
        first = [http.get("/customers").status_code for _ in range(12)]
    sandbox.control("POST", "/faults", json={"seed": 4})  # re-seeding replays the dice
    with sandbox.http() as http:
        second = [http.get("/customers").status_code for _ in range(12)]
    assert first == second and set(first) == {200, 503}


def test_fault_settings_are_validated(sandbox: Sandbox) -> None:
    r = sandbox.control("POST", "/faults", json={"error_status": 418})
    assert r.status_code == 400 and "error_status" in r.json()["error"]
    assert sandbox.control("POST", "/faults", json={"typo_rate": 1}).status_code == 400
    assert sandbox.control("GET", "/faults").json()["error_status"] == 503
