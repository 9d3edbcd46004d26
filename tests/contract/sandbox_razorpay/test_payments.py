"""Payments, orders and refunds through the official SDK."""

from __future__ import annotations

from typing import Any

import pytest
import razorpay
from razorpay.errors import BadRequestError

from tests.contract.sandbox_razorpay.conftest import Sandbox, new_customer, new_invoice


def _paid_invoice(sandbox: Sandbox, client: razorpay.Client) -> tuple[str, dict[str, Any]]:
    invoice = new_invoice(client, new_customer(client)["id"])
    paid = sandbox.post(f"/invoices/{invoice['id']}/pay").json()
    return paid["payment_id"], paid["invoice"]


def test_fetch_and_list_payments(sandbox: Sandbox, client: razorpay.Client) -> None:
    first, _ = _paid_invoice(sandbox, client)
    invoice = new_invoice(client, new_customer(client, 2)["id"])
    second = sandbox.post(f"/invoices/{invoice['id']}/pay").json()["payment_id"]

    payment = client.payment.fetch(first, {"expand[]": "card"})
    assert payment["entity"] == "payment"
    assert payment["notes"] == []
    listed = client.payment.all({"count": 1})
    assert [p["id"] for p in listed["items"]] == [second]
    assert [p["id"] for p in client.payment.all({"count": 1, "skip": 1})["items"]] == [first]
    with pytest.raises(BadRequestError, match="The id provided does not exist"):
        client.payment.fetch("pay_AAAAAAAAAAAAAA")


def test_orders(sandbox: Sandbox, client: razorpay.Client) -> None:
    payment_id, invoice = _paid_invoice(sandbox, client)
    order = client.order.fetch(invoice["order_id"])
    assert (order["status"], order["amount_paid"], order["amount_due"]) == ("paid", 50000, 0)
    assert [p["id"] for p in client.order.payments(order["id"])["items"]] == [payment_id]
    assert [o["id"] for o in client.order.all()["items"]] == [order["id"]]


def test_refund_partly_then_fully(sandbox: Sandbox, client: razorpay.Client) -> None:
    payment_id, _ = _paid_invoice(sandbox, client)

    refund = client.payment.refund(payment_id, {"amount": 10000, "notes": {"why": "goodwill"}})
    assert refund["id"].startswith("rfnd_")
    assert (refund["amount"], refund["status"], refund["payment_id"]) == (
        10000,
        "processed",
        payment_id,
    )
    assert client.refund.fetch(refund["id"]) == refund
    assert client.payment.fetch(payment_id)["refund_status"] == "partial"

    with pytest.raises(BadRequestError, match="greater than amount captured"):
        client.payment.refund(payment_id, {"amount": 40001})
    rest = client.refund.create({"payment_id": payment_id})
    assert rest["amount"] == 40000
    payment = client.payment.fetch(payment_id)
    assert (payment["status"], payment["refund_status"], payment["amount_refunded"]) == (
        "refunded",
        "full",
        50000,
    )
    with pytest.raises(BadRequestError, match="fully refunded already"):
        client.payment.refund(payment_id, {})
    listed = client.payment.fetch_multiple_refund(payment_id)
    assert [r["id"] for r in listed["items"]] == [rest["id"], refund["id"]]
    assert client.payment.fetch_refund_id(payment_id, refund["id"]) == refund
    assert [r["id"] for r in client.refund.all({"count": 1})["items"]] == [rest["id"]]


def test_refund_idempotency_header(sandbox: Sandbox, client: razorpay.Client) -> None:
    payment_id, _ = _paid_invoice(sandbox, client)
    headers = {"X-Refund-Idempotency": "refund-key-0001"}

    first = client.payment.refund(payment_id, {"amount": 1000}, headers=headers)
    again = client.payment.refund(payment_id, {"amount": 1000}, headers=headers)
    assert again["id"] == first["id"]
    with pytest.raises(BadRequestError, match="Different request with the same idempotency key"):
        client.payment.refund(payment_id, {"amount": 2000}, headers=headers)


@pytest.mark.parametrize(
    "key", ["short-key", "has space 0001", "semi;colon-0001", "dot.ted.key.0001"]
)
def test_refund_idempotency_key_format_is_checked(
    sandbox: Sandbox, client: razorpay.Client, key: str
) -> None:
    payment_id, _ = _paid_invoice(sandbox, client)
    with pytest.raises(BadRequestError, match="X-Refund-Idempotency must be at least 10"):
        client.payment.refund(payment_id, {"amount": 1000}, headers={"X-Refund-Idempotency": key})
    assert client.payment.fetch(payment_id)["amount_refunded"] == 0


def test_refund_idempotency_key_reused_on_another_payment_is_refused(
    sandbox: Sandbox, client: razorpay.Client
) -> None:
    first_payment, _ = _paid_invoice(sandbox, client)
    invoice = new_invoice(client, new_customer(client, 2)["id"])
    second_payment = sandbox.post(f"/invoices/{invoice['id']}/pay").json()["payment_id"]
    headers = {"X-Refund-Idempotency": "Refund_Key-0002"}

    refund = client.payment.refund(first_payment, {"amount": 1000}, headers=headers)
    with pytest.raises(BadRequestError, match="Different request with the same idempotency key"):
        client.payment.refund(second_payment, {"amount": 1000}, headers=headers)
    with pytest.raises(BadRequestError, match="Different request with the same idempotency key"):
        client.refund.create({"payment_id": second_payment, "amount": 1000}, headers=headers)
    assert client.payment.fetch(second_payment)["amount_refunded"] == 0
    # The same request on the same payment is still a replay.
    assert client.payment.refund(first_payment, {"amount": 1000}, headers=headers) == refund
