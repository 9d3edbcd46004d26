"""Form-encoded bodies (`application/x-www-form-urlencoded`), as Razorpay's curl samples send
them, over a real socket; the official SDK reads back what they created."""

from __future__ import annotations

from typing import Any

import razorpay
import requests

from tests.contract.sandbox_razorpay.conftest import KEY_ID, KEY_SECRET, Sandbox

AUTH = (KEY_ID, KEY_SECRET)


def _form(sandbox: Sandbox, method: str, path: str, data: Any) -> requests.Response:
    # requests encodes a dict or a list of pairs as application/x-www-form-urlencoded.
    response = requests.request(method, sandbox.url + path, data=data, auth=AUTH, timeout=10)
    assert response.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    return response


def test_customer_with_notes_from_a_form(sandbox: Sandbox, client: razorpay.Client) -> None:
    response = _form(
        sandbox,
        "POST",
        "/v1/customers",
        {
            "name": "Gaurav Kumar",
            "email": "gaurav@example.com",
            "contact": "+919876543210",
            "fail_existing": "0",
            "notes[togai_account_id]": "ACC-1",
            "notes[source]": "form",
        },
    )
    assert response.status_code == 200, response.text
    created = client.customer.fetch(response.json()["id"])
    assert created["notes"] == {"togai_account_id": "ACC-1", "source": "form"}
    assert created["contact"] == "+919876543210"

    edited = _form(sandbox, "PUT", f"/v1/customers/{created['id']}", {"name": "Gaurav K"})
    assert edited.status_code == 200, edited.text
    assert client.customer.fetch(created["id"])["name"] == "Gaurav K"


def test_invoice_with_line_items_from_a_form(sandbox: Sandbox, client: razorpay.Client) -> None:
    customer = client.customer.create({"name": "Form Buyer"})
    response = _form(
        sandbox,
        "POST",
        "/v1/invoices",
        [
            ("type", "invoice"),
            ("customer_id", customer["id"]),
            ("receipt", "togai-inv-9"),
            ("line_items[0][name]", "Plan"),
            ("line_items[0][amount]", "50000"),
            ("line_items[0][quantity]", "2"),
            ("line_items[1][name]", "Overage"),
            ("line_items[1][amount]", "1500"),
            ("partial_payment", "1"),
            ("notes[togai_invoice_id]", "inv-9"),
        ],
    )
    assert response.status_code == 200, response.text
    invoice = client.invoice.fetch(response.json()["id"])
    assert [(i["name"], i["amount"], i["quantity"]) for i in invoice["line_items"]] == [
        ("Plan", 50000, 2),
        ("Overage", 1500, 1),
    ]
    assert (invoice["amount"], invoice["partial_payment"], invoice["status"]) == (
        101500,
        True,
        "issued",
    )
    assert invoice["notes"] == {"togai_invoice_id": "inv-9"}
    assert client.invoice.all({"receipt": "togai-inv-9"})["count"] == 1


def test_invoice_with_inline_customer_from_a_form(
    sandbox: Sandbox, client: razorpay.Client
) -> None:
    response = _form(
        sandbox,
        "POST",
        "/v1/invoices",
        {
            "type": "invoice",
            "customer[name]": "Inline Form Buyer",
            "customer[email]": "inline-form@example.com",
            "line_items[0][name]": "Plan",
            "line_items[0][amount]": "1000",
        },
    )
    assert response.status_code == 200, response.text
    customer = client.customer.fetch(response.json()["customer_id"])
    assert customer["name"] == "Inline Form Buyer"


def test_payment_link_and_refund_from_forms(sandbox: Sandbox, client: razorpay.Client) -> None:
    response = _form(
        sandbox,
        "POST",
        "/v1/payment_links",
        {
            "amount": "150000",
            "currency": "INR",
            "reference_id": "form-link-1",
            "accept_partial": "true",
            "first_min_partial_amount": "10000",
            "customer[name]": "Gaurav Kumar",
            "customer[email]": "g@example.com",
            "notify[sms]": "1",
            "notes[togai_invoice_id]": "inv-7",
        },
    )
    assert response.status_code == 200, response.text
    link = client.payment_link.fetch(response.json()["id"])
    assert (link["amount"], link["accept_partial"], link["first_min_partial_amount"]) == (
        150000,
        True,
        10000,
    )
    assert (link["customer"]["name"], link["notify"]["sms"], link["notes"]) == (
        "Gaurav Kumar",
        True,
        {"togai_invoice_id": "inv-7"},
    )

    payment_id = sandbox.post(f"/payment_links/{link['id']}/pay").json()["payment_id"]
    refunded = _form(
        sandbox, "POST", f"/v1/payments/{payment_id}/refund", {"amount": "2500", "notes[why]": "x"}
    )
    assert refunded.status_code == 200, refunded.text
    assert client.payment.fetch(payment_id)["amount_refunded"] == 2500


def test_form_bodies_are_validated_like_json(sandbox: Sandbox, client: razorpay.Client) -> None:
    refused = _form(sandbox, "POST", "/v1/customers", {"name": "Acme, Inc."})
    assert refused.status_code == 400
    assert refused.json()["error"]["description"] == "The name format is invalid."
    unknown = _form(sandbox, "POST", "/v1/customers", {"name": "Acme Inc", "nickname": "x"})
    assert unknown.json()["error"]["description"] == (
        "nickname is/are not required and should not be sent"
    )
    clash = _form(sandbox, "POST", "/v1/customers", [("notes", "a"), ("notes[k]", "v")])
    assert clash.status_code == 400
    assert clash.json()["error"]["description"] == "notes[k] is not a valid field."
    for key in ("notes[k", "notes[k]x", "[k]"):
        malformed = _form(sandbox, "POST", "/v1/customers", {"name": "Acme Inc", key: "v"})
        assert malformed.status_code == 400
        assert malformed.json()["error"]["description"] == f"{key} is not a valid field."
    assert client.customer.all()["count"] == 0
