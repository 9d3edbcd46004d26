"""Authentication, routing and body errors as Razorpay sends them, and as the SDK maps them."""

from __future__ import annotations

import httpx
import pytest
import razorpay
from razorpay.errors import BadRequestError

from tests.contract.sandbox_razorpay.conftest import KEY_ID, KEY_SECRET, Sandbox


@pytest.mark.parametrize(
    ("key_id", "key_secret", "message"),
    [
        ("rzp_test_wrong", KEY_SECRET, "The api key provided is invalid"),
        (KEY_ID, "wrong_secret", "The api secret provided is invalid"),
    ],
)
def test_bad_credentials_raise_bad_request_error(
    sandbox: Sandbox, key_id: str, key_secret: str, message: str
) -> None:
    # The SDK maps by error.code only: a 401 BAD_REQUEST_ERROR is a BadRequestError.
    with pytest.raises(BadRequestError, match=f"^{message}$"):
        sandbox.client(key_id, key_secret).customer.all()


def test_auth_failure_body_and_status(sandbox: Sandbox) -> None:
    for headers in ({}, {"Authorization": "basic abc"}, {"Authorization": "Basic %%%"}):
        response = sandbox.control.get("/v1/customers", headers=headers)
        assert response.status_code == 401
        assert response.json() == {
            "error": {
                "code": "BAD_REQUEST_ERROR",
                "description": "Authentication failed",
                "field": None,
                "source": "NA",
                "step": "NA",
                "reason": "NA",
                "metadata": {},
            }
        }
    # No customer data leaks through a failed request.
    assert sandbox.control.get("/_sandbox/stats").json()["objects"]["customer"] == 0


def test_sdk_without_auth_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(BadRequestError, match="Authentication failed"):
        razorpay.Client(base_url=sandbox.url).customer.all()


def test_unknown_route_and_method_are_400(sandbox: Sandbox, client: razorpay.Client) -> None:
    auth = (KEY_ID, KEY_SECRET)
    for method, path in (("GET", "/v1/widgets"), ("DELETE", "/v1/customers"), ("GET", "/nope")):
        response = sandbox.control.request(method, path, auth=auth)
        assert response.status_code == 400
        assert response.json()["error"]["description"] == (
            "The requested URL was not found on the server."
        )
    # The SDK's inherited Customer.delete hits a route Razorpay does not have.
    with pytest.raises(BadRequestError, match="The requested URL was not found"):
        client.customer.delete("cust_AAAAAAAAAAAAAA", {})


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/customers/"), ("POST", "/v1/customers/"), ("GET", "/v1/invoices/")],
)
def test_trailing_slash_is_an_unknown_url_not_a_redirect(
    sandbox: Sandbox, client: razorpay.Client, method: str, path: str
) -> None:
    response = sandbox.control.request(
        method, path, auth=(KEY_ID, KEY_SECRET), json={"name": "Slash Test"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["description"] == (
        "The requested URL was not found on the server."
    )
    # The SDK's low-level call, as a user with a stray slash would write it.
    with pytest.raises(BadRequestError, match=r"^The requested URL was not found on the server\.$"):
        client.get(path, {}) if method == "GET" else client.post(path, {"name": "Slash Test"})
    assert client.customer.all()["count"] == 0


def test_missing_id_is_400_with_razorpay_labels(sandbox: Sandbox) -> None:
    response = sandbox.control.get("/v1/invoices/inv_AAAAAAAAAAAAAA", auth=(KEY_ID, KEY_SECRET))
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "BAD_REQUEST_ERROR",
        "description": "The id provided does not exist",
        "field": None,
        "source": "business",
        "step": "payment_initiation",
        "reason": "input_validation_failed",
        "metadata": {},
    }


def test_unknown_fields_and_query_params(sandbox: Sandbox, client: razorpay.Client) -> None:
    with pytest.raises(
        BadRequestError, match="^colour, size is/are not required and should not be sent$"
    ):
        client.customer.create({"name": "Some Name", "colour": "red", "size": 2})
    with pytest.raises(BadRequestError, match="^status is/are not required"):
        client.invoice.all({"status": "paid"})
    # Action endpoints take only the empty body the SDK sends.
    with pytest.raises(BadRequestError, match="^foo is/are not required"):
        client.post("/v1/invoices/inv_AAAAAAAAAAAAAA/cancel", {"foo": 1})


def test_malformed_json_body(sandbox: Sandbox) -> None:
    response = sandbox.control.post(
        "/v1/customers",
        content=b"{not json",
        headers={"Content-type": "application/json"},
        auth=(KEY_ID, KEY_SECRET),
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BAD_REQUEST_ERROR"


def test_ids_are_prefix_and_14_alphanumerics(sandbox: Sandbox, client: razorpay.Client) -> None:
    created = client.customer.create({"name": "Id Checker"})
    bare = created["id"].removeprefix("cust_")
    assert len(bare) == 14 and bare.isalnum()
    # Razorpay also accepts the id without its prefix.
    assert client.customer.fetch(bare)["id"] == created["id"]
    assert isinstance(httpx.get(sandbox.url + "/_sandbox/stats").json()["requests"], dict)
