"""What non-client callers (raw HTTP) get for bad requests: 400/404 with `{"message"}`."""

from __future__ import annotations

import httpx
import pytest

from billsync.sandbox.togai import TogaiSandboxConfig
from tests.contract.sandbox_togai.conftest import Sandbox, running

CUSTOMER = {"id": "ACME", "name": "ACME", "primaryEmail": "a@example.com", "address": {}}


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/customers", {**CUSTOMER, "colour": "red"}, "Unknown field: colour"),
        (
            "/customers",
            {**CUSTOMER, "address": {"planet": "Mars"}},
            "Unknown field: address.planet",
        ),
        ("/customers", {**CUSTOMER, "name": "AB"}, "name must have at least 3 characters"),
        ("/customers", {"id": "ACME", "name": "ACME", "address": {}}, "primaryEmail is required"),
        (
            "/accounts",
            {"id": "A", "name": "Acc", "customerId": "ACME", "status": "GONE"},
            "status must be one of ACTIVE, DRAFT",
        ),
        (
            "/accounts",
            {"id": "A", "name": "Acc", "customerId": "ACME", "metadata": {"n": 1}},
            "metadata must be an object of string values",
        ),
        (
            "/payments",
            {
                "accountId": "ACME",
                "currency": "INR",
                "totalAmount": "881.94",
                "externalPaymentReference": {
                    "sourceName": "R",
                    "sourceType": "GATEWAY",
                    "transactionNumber": "pay_1",
                },
                "lineItemRecords": [{"type": "INVOICE", "order": 1}],
            },
            "totalAmount must be a number",
        ),
        (
            "/settings",
            {
                "id": "s",
                "value": "v",
                "entityType": "PLANET",
                "entityId": "x",
                "namespace": "USER",
                "name": "s",
                "dataType": "STRING",
            },
            "entityType must be one of",
        ),
    ],
)
def test_invalid_bodies_are_400_with_a_message(
    sandbox: Sandbox, path: str, body: dict[str, object], message: str
) -> None:
    with sandbox.http() as http:
        r = http.post(path, json=body)
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    assert r.json()["message"].startswith(message)


def test_malformed_json_bad_token_and_unknown_routes(sandbox: Sandbox) -> None:
    with sandbox.http() as http:
        malformed = http.post("/customers", content=b"{nope")
        assert malformed.status_code == 400 and malformed.json() == {
            "message": "Malformed JSON body"
        }
        assert http.get("/nowhere").json() == {"message": "Not Found"}
        assert http.delete("/customers").status_code == 405
        assert http.get("/invoices", params={"nextToken": "%%%"}).status_code == 400
        assert http.get("/invoices", params={"pageSize": "2.5"}).status_code == 400
        assert http.get("/invoices", params={"status": "ONGOING"}).status_code == 400
        assert http.get("/customers", params={"pageSize": "10.0"}).status_code == 200
    anonymous = httpx.get(f"{sandbox.url}/customers")
    assert anonymous.status_code == 401 and anonymous.json() == {"message": "Unauthorized"}


def test_invoice_time_filter_uses_epoch_millis(sandbox: Sandbox) -> None:
    with sandbox.http() as http:
        assert http.post("/customers", json=CUSTOMER).status_code == 201
        sandbox.control(
            "POST",
            "/invoices",
            json={"accountId": "ACME", "totalAmount": 1, "endDate": "2024-01-31T00:00:00Z"},
        )
        sandbox.control(
            "POST",
            "/invoices",
            json={"accountId": "ACME", "totalAmount": 2, "endDate": "2024-03-31T00:00:00Z"},
        )
        feb = 1706745600000  # 2024-02-01
        later = http.get("/invoices", params={"start_time": feb}).json()["data"]
        earlier = http.get("/invoices", params={"end_time": feb}).json()["data"]
        assert [i["totalAmount"] for i in later] == [2]
        assert [i["totalAmount"] for i in earlier] == [1]
        assert http.get("/invoices", params={"start_time": "soon"}).status_code == 400


def test_unknown_fields_can_be_ignored() -> None:
    with running(TogaiSandboxConfig(reject_unknown_fields=False)) as sandbox, sandbox.http() as h:
        r = h.post("/customers", json={**CUSTOMER, "colour": "red"})
        assert r.status_code == 201 and "colour" not in r.json()
