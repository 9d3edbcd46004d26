"""Invoices through the official SDK: lifecycle, update rules, filters, errors."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import razorpay
from razorpay.errors import BadRequestError

from tests.contract.sandbox_razorpay.conftest import Sandbox, new_customer, new_invoice


@pytest.fixture
def customer(client: razorpay.Client) -> dict[str, Any]:
    return new_customer(client, 1)


def test_create_is_issued_by_default(client: razorpay.Client, customer: dict[str, Any]) -> None:
    invoice = new_invoice(
        client,
        customer["id"],
        line_items=[
            {"name": "Seats", "amount": 40000, "quantity": 2},
            {"name": "Usage", "description": "API calls", "amount": 20000},
        ],
        receipt="togai-inv-1",
        notes={"togai_invoice_id": "inv-1", "togai_account_id": "acc-1"},
        partial_payment=True,
    )

    assert re.match(r"^inv_[A-Za-z0-9]{14}$", invoice["id"])
    assert invoice["status"] == "issued"
    assert invoice["amount"] == invoice["gross_amount"] == invoice["amount_due"] == 100000
    assert invoice["amount_paid"] == 0
    assert invoice["receipt"] == invoice["invoice_number"] == "togai-inv-1"
    assert invoice["notes"] == {"togai_invoice_id": "inv-1", "togai_account_id": "acc-1"}
    assert invoice["short_url"].startswith("https://rzp.io/i/")
    assert invoice["issued_at"] is not None
    assert invoice["customer_details"]["customer_email"] == customer["email"]
    seats = invoice["line_items"][0]
    assert (seats["amount"], seats["quantity"], seats["gross_amount"]) == (40000, 2, 80000)
    assert seats["id"].startswith("li_")
    order = client.order.fetch(invoice["order_id"])
    assert (order["amount"], order["status"], order["receipt"]) == (
        100000,
        "created",
        "togai-inv-1",
    )
    assert client.invoice.fetch(invoice["id"]) == invoice


def test_draft_has_no_order_and_can_be_issued(
    client: razorpay.Client, customer: dict[str, Any]
) -> None:
    draft = new_invoice(client, customer["id"], draft="1")
    assert draft["status"] == "draft"
    assert (draft["order_id"], draft["short_url"], draft["amount_due"]) == (None, None, None)

    issued = client.invoice.issue(draft["id"])
    assert issued["status"] == "issued"
    assert issued["order_id"].startswith("order_")

    with pytest.raises(
        BadRequestError, match="Operation not allowed for Invoice in issued status."
    ):
        client.invoice.issue(draft["id"])


def test_draft_without_line_items_cannot_be_issued(
    client: razorpay.Client, customer: dict[str, Any]
) -> None:
    draft = client.invoice.create({"type": "invoice", "customer_id": customer["id"], "draft": "1"})
    with pytest.raises(BadRequestError, match="line_items is required."):
        client.invoice.issue(draft["id"])


def test_delete_only_drafts(client: razorpay.Client, customer: dict[str, Any]) -> None:
    draft = new_invoice(client, customer["id"], draft="1")
    issued = new_invoice(client, customer["id"])

    assert client.invoice.delete(draft["id"]) == []
    with pytest.raises(BadRequestError, match="The id provided does not exist"):
        client.invoice.fetch(draft["id"])
    with pytest.raises(
        BadRequestError, match="Operation not allowed for Invoice in issued status."
    ):
        client.invoice.delete(issued["id"])


def test_cancel_only_issued(client: razorpay.Client, customer: dict[str, Any]) -> None:
    invoice = new_invoice(client, customer["id"])

    cancelled = client.invoice.cancel(invoice["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_at"] is not None
    with pytest.raises(
        BadRequestError, match="Operation not allowed for Invoice in cancelled status."
    ):
        client.invoice.cancel(invoice["id"])


def test_paid_invoice_cannot_be_cancelled(
    sandbox: Sandbox, client: razorpay.Client, customer: dict[str, Any]
) -> None:
    invoice = new_invoice(client, customer["id"])
    assert sandbox.post(f"/invoices/{invoice['id']}/pay").status_code == 200
    with pytest.raises(BadRequestError, match="Invoice in paid status"):
        client.invoice.cancel(invoice["id"])


def test_update_rules_follow_the_status(
    sandbox: Sandbox, client: razorpay.Client, customer: dict[str, Any]
) -> None:
    draft = new_invoice(client, customer["id"], draft="1")
    line_id = draft["line_items"][0]["id"]
    edited = client.invoice.edit(
        draft["id"],
        {
            "line_items": [{"id": line_id, "amount": 30000}, {"name": "Extra", "amount": 5000}],
            "description": "Edited draft",
        },
    )
    assert [li["amount"] for li in edited["line_items"]] == [30000, 5000]
    assert edited["amount"] == 35000

    issued = client.invoice.issue(draft["id"])
    edited = client.invoice.edit(
        issued["id"], {"receipt": "R-9", "notes": {"k": "v"}, "terms": "Net 30"}
    )
    assert (edited["receipt"], edited["notes"], edited["terms"]) == ("R-9", {"k": "v"}, "Net 30")
    with pytest.raises(
        BadRequestError,
        match="^line_items, date is/are not required and should not be sent$",
    ):
        client.invoice.edit(issued["id"], {"line_items": [], "date": 1, "notes": {"a": "b"}})
    assert client.invoice.fetch(issued["id"])["notes"] == {"k": "v"}

    sandbox.post(f"/invoices/{issued['id']}/pay")
    assert client.invoice.edit(issued["id"], {"notes": {"paid": "yes"}})["notes"] == {"paid": "yes"}
    with pytest.raises(BadRequestError, match="^receipt is/are not required"):
        client.invoice.edit(issued["id"], {"receipt": "R-10"})


def test_create_validation(client: razorpay.Client, customer: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError, match="expire_by should be at least 15 minutes"):
        new_invoice(client, customer["id"], expire_by=int(time.time()) + 60)
    with pytest.raises(BadRequestError, match="^customer is required.$"):
        client.invoice.create({"type": "invoice", "line_items": [{"name": "x", "amount": 100}]})
    with pytest.raises(BadRequestError, match="The id provided does not exist"):
        new_invoice(client, "cust_AAAAAAAAAAAAAA")
    with pytest.raises(BadRequestError, match="Currency of all items should be the same"):
        new_invoice(
            client, customer["id"], line_items=[{"name": "x", "amount": 100, "currency": "USD"}]
        )
    with pytest.raises(BadRequestError, match="amount field is required when item id"):
        new_invoice(client, customer["id"], line_items=[{"name": "x"}])
    with pytest.raises(BadRequestError, match="^foo is/are not required and should not be sent$"):
        new_invoice(client, customer["id"], foo=1)
    # A valid expire_by is kept.
    later = int(time.time()) + 3600
    assert new_invoice(client, customer["id"], expire_by=later)["expire_by"] == later


def test_inline_customer_is_created(client: razorpay.Client) -> None:
    invoice = client.invoice.create(
        {
            "type": "invoice",
            "customer": {"name": "Inline Buyer", "email": "inline@example.com"},
            "line_items": [{"name": "Plan", "amount": 1000}],
        }
    )
    created = client.customer.fetch(invoice["customer_id"])
    assert created["email"] == "inline@example.com"


def test_list_filters_and_pagination(
    sandbox: Sandbox, client: razorpay.Client, customer: dict[str, Any]
) -> None:
    other = new_customer(client, 2)
    made = [new_invoice(client, customer["id"], receipt=f"R-{n}")["id"] for n in range(12)]
    theirs = new_invoice(client, other["id"], receipt="R-other")

    assert [i["id"] for i in client.invoice.all({"receipt": "R-3"})["items"]] == [made[3]]
    mine = client.invoice.all({"customer_id": customer["id"], "count": 100})["items"]
    assert [i["id"] for i in mine] == list(reversed(made))
    assert client.invoice.all({"type": "invoice", "count": 1})["items"][0]["id"] == theirs["id"]

    paid = sandbox.post(f"/invoices/{made[5]}/pay").json()
    found = client.invoice.all({"payment_id": paid["payment_id"]})["items"]
    assert [i["id"] for i in found] == [made[5]]

    seen: list[str] = []
    skip = 0
    while True:
        page = client.invoice.all({"count": 5, "skip": skip})["items"]
        seen += [i["id"] for i in page]
        if len(page) < 5:
            break
        skip += 5
    assert seen == [theirs["id"], *reversed(made)]


def test_notify_by(client: razorpay.Client, customer: dict[str, Any]) -> None:
    invoice = new_invoice(client, customer["id"])
    assert client.invoice.notify_by(invoice["id"], "email") == {"success": True}
    with pytest.raises(BadRequestError, match="fax is not a valid communication medium."):
        client.invoice.notify_by(invoice["id"], "fax")


def test_pay_in_parts_then_in_full(
    sandbox: Sandbox, client: razorpay.Client, customer: dict[str, Any]
) -> None:
    invoice = new_invoice(client, customer["id"], partial_payment=True)

    first = sandbox.post(f"/invoices/{invoice['id']}/pay", {"amount": 20000, "method": "upi"})
    assert first.status_code == 200
    part = first.json()["invoice"]
    assert (part["status"], part["amount_paid"], part["amount_due"]) == (
        "partially_paid",
        20000,
        30000,
    )
    assert part["payment_id"] == first.json()["payment_id"]

    second = sandbox.post(f"/invoices/{invoice['id']}/pay").json()
    paid = second["invoice"]
    assert (paid["status"], paid["amount_due"], paid["amount_paid"]) == ("paid", 0, 50000)
    assert paid["paid_at"] is not None
    # The invoice keeps its first payment; the order lists both.
    assert paid["payment_id"] == first.json()["payment_id"]
    payments = client.order.payments(paid["order_id"])["items"]
    assert {p["id"] for p in payments} == {first.json()["payment_id"], second["payment_id"]}
    assert client.order.fetch(paid["order_id"])["status"] == "paid"
    payment = client.payment.fetch(second["payment_id"])
    assert (payment["invoice_id"], payment["order_id"]) == (invoice["id"], invoice["order_id"])
    assert (payment["status"], payment["captured"], payment["amount"]) == ("captured", True, 30000)


def test_partial_payment_needs_the_flag(
    sandbox: Sandbox, client: razorpay.Client, customer: dict[str, Any]
) -> None:
    invoice = new_invoice(client, customer["id"])
    refused = sandbox.post(f"/invoices/{invoice['id']}/pay", {"amount": 100})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "BAD_REQUEST_ERROR"
    draft = new_invoice(client, customer["id"], draft="1")
    assert sandbox.post(f"/invoices/{draft['id']}/pay").status_code == 400


def test_expire_from_the_control_plane(
    sandbox: Sandbox, client: razorpay.Client, customer: dict[str, Any]
) -> None:
    invoice = new_invoice(client, customer["id"])
    expired = sandbox.post(f"/invoices/{invoice['id']}/expire").json()
    assert expired["status"] == "expired"
    assert client.invoice.fetch(invoice["id"])["expired_at"] is not None
    assert sandbox.post(f"/invoices/{invoice['id']}/pay").status_code == 400


def test_receipt_lookup_follows_edits_and_deletes(
    client: razorpay.Client, customer: dict[str, Any]
) -> None:
    def by_receipt(receipt: str, **extra: Any) -> list[str]:
        return [i["id"] for i in client.invoice.all({"receipt": receipt, **extra})["items"]]

    first = new_invoice(client, customer["id"], receipt="RK-1")["id"]
    second = new_invoice(client, customer["id"], receipt="RK-1")["id"]
    draft = new_invoice(client, customer["id"], receipt="RK-2", draft="1")["id"]
    assert by_receipt("RK-1") == [second, first]  # newest first, as without the filter
    assert by_receipt("RK-1", skip=1) == [first]
    client.invoice.edit(second, {"receipt": "RK-3"})
    assert by_receipt("RK-1") == [first] and by_receipt("RK-3") == [second]
    client.invoice.edit(draft, {"receipt": "RK-1"})
    assert by_receipt("RK-1") == [draft, first] and by_receipt("RK-2") == []
    client.invoice.delete(draft)
    assert by_receipt("RK-1") == [first]
    assert by_receipt("RK-1", customer_id="cust_00000000000000") == []
