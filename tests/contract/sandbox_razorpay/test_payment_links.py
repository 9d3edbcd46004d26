"""Payment links through the official SDK: create, reference_id uniqueness, list, cancel, pay."""

from __future__ import annotations

import re
import time

import pytest
import razorpay
from razorpay.errors import BadRequestError

from tests.contract.sandbox_razorpay.conftest import Sandbox

LINK = {
    "amount": 150000,
    "currency": "INR",
    "description": "Invoice inv-7",
    "reference_id": "togai-inv-7",
    "customer": {"name": "Gaurav Kumar", "email": "g@example.com", "contact": "+919876543210"},
    "notify": {"sms": True, "email": True},
    "notes": {"togai_invoice_id": "inv-7"},
}


def test_create_and_fetch(client: razorpay.Client) -> None:
    link = client.payment_link.create(LINK)

    assert re.match(r"^plink_[A-Za-z0-9]{14}$", link["id"])
    assert link["status"] == "created"
    assert (link["amount"], link["amount_paid"], link["reference_id"]) == (150000, 0, "togai-inv-7")
    assert (link["cancelled_at"], link["expired_at"], link["payments"]) == (0, 0, None)
    assert link["short_url"].startswith("https://rzp.io/i/")
    assert client.payment_link.fetch(link["id"]) == link


def test_reference_id_is_unique(client: razorpay.Client) -> None:
    client.payment_link.create(LINK)
    with pytest.raises(BadRequestError, match="reference ID already attempted"):
        client.payment_link.create(LINK)


def test_create_validation(client: razorpay.Client) -> None:
    with pytest.raises(BadRequestError, match="timestamp must be atleast 15 minutes in future"):
        client.payment_link.create({"amount": 1000, "expire_by": int(time.time()) + 60})
    with pytest.raises(BadRequestError, match="wrong input fields sent."):
        client.payment_link.create({"amount": 1000, "colour": "blue"})
    with pytest.raises(BadRequestError, match="value: the length must not be greater than 255."):
        client.payment_link.create({"amount": 1000, "notes": {"k": "x" * 256}})


SIX_MONTHS = 180 * 24 * 3600


def test_expire_by_defaults_to_six_months_and_may_not_exceed_them(
    client: razorpay.Client,
) -> None:
    link = client.payment_link.create({"amount": 1000})
    assert link["expire_by"] == link["created_at"] + SIX_MONTHS

    too_late = int(time.time()) + SIX_MONTHS + 3600
    with pytest.raises(BadRequestError, match="more than 6 months"):
        client.payment_link.create({"amount": 1000, "expire_by": too_late})
    with pytest.raises(BadRequestError, match="more than 6 months"):
        client.payment_link.edit(link["id"], {"expire_by": too_late})
    sooner = link["created_at"] + 7 * 24 * 3600
    assert client.payment_link.edit(link["id"], {"expire_by": sooner})["expire_by"] == sooner
    assert len(client.payment_link.all()["payment_links"]) == 1


def test_list_is_not_a_collection(client: razorpay.Client) -> None:
    first = client.payment_link.create(LINK)
    second = client.payment_link.create(LINK | {"reference_id": "togai-inv-8"})

    listed = client.payment_link.all()
    assert list(listed) == ["payment_links"]
    assert [link["id"] for link in listed["payment_links"]] == [second["id"], first["id"]]
    by_ref = client.payment_link.all({"reference_id": "togai-inv-7"})["payment_links"]
    assert [link["id"] for link in by_ref] == [first["id"]]


def test_cancel_only_when_created(sandbox: Sandbox, client: razorpay.Client) -> None:
    link = client.payment_link.create(LINK)
    cancelled = client.payment_link.cancel(link["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_at"] > 0
    with pytest.raises(BadRequestError, match="cannot cancel"):
        client.payment_link.cancel(link["id"])

    paid = client.payment_link.create(LINK | {"reference_id": "paid-one"})
    assert sandbox.post(f"/payment_links/{paid['id']}/pay").status_code == 200
    with pytest.raises(BadRequestError, match="already paid/partially paid link"):
        client.payment_link.cancel(paid["id"])


def test_edit(client: razorpay.Client) -> None:
    link = client.payment_link.create(LINK)
    edited = client.payment_link.edit(link["id"], {"notes": {"k": "v"}, "reference_id": "new-ref"})
    assert (edited["notes"], edited["reference_id"]) == ({"k": "v"}, "new-ref")
    # The old reference is free again.
    client.payment_link.create(LINK)
    assert client.payment_link.notifyBy(link["id"], "sms") == {"success": True}


def test_pay_creates_order_and_captured_payment(sandbox: Sandbox, client: razorpay.Client) -> None:
    link = client.payment_link.create(
        LINK | {"accept_partial": True, "first_min_partial_amount": 50000}
    )
    assert sandbox.post(f"/payment_links/{link['id']}/pay", {"amount": 100}).status_code == 400

    part = sandbox.post(f"/payment_links/{link['id']}/pay", {"amount": 50000}).json()
    assert part["payment_link"]["status"] == "partially_paid"
    rest = sandbox.post(f"/payment_links/{link['id']}/pay", {"method": "card"}).json()

    paid = client.payment_link.fetch(link["id"])
    assert (paid["status"], paid["amount_paid"]) == ("paid", 150000)
    assert [p["payment_id"] for p in paid["payments"]] == [part["payment_id"], rest["payment_id"]]
    payment = client.payment.fetch(rest["payment_id"])
    # A link payment carries the link's order, no invoice (razorpay-api.md §6.1).
    assert (payment["order_id"], payment["invoice_id"]) == (paid["order_id"], None)
    assert payment["card_id"].startswith("card_")
    by_payment = client.payment_link.all({"payment_id": part["payment_id"]})["payment_links"]
    assert [link["id"] for link in by_payment] == [link["id"]]
