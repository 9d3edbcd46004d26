"""Customers through the official SDK: create, fail_existing, fetch, list, edit."""

from __future__ import annotations

import re

import pytest
import razorpay
from razorpay.errors import BadRequestError

from tests.contract.sandbox_razorpay.conftest import KEY_ID, KEY_SECRET, Sandbox, new_customer

ID = re.compile(r"^cust_[A-Za-z0-9]{14}$")


def test_create_returns_the_entity_with_notes_as_list_when_empty(
    client: razorpay.Client,
) -> None:
    created = client.customer.create({"name": "Gaurav Kumar", "email": "g@example.com"})

    assert ID.match(created["id"])
    assert created == {
        "id": created["id"],
        "entity": "customer",
        "name": "Gaurav Kumar",
        "email": "g@example.com",
        "contact": None,
        "gstin": None,
        "notes": [],
        "created_at": created["created_at"],
    }
    assert client.customer.fetch(created["id"]) == created


def test_duplicate_email_contact_pair_is_refused_by_default(client: razorpay.Client) -> None:
    new_customer(client, 1)

    with pytest.raises(BadRequestError, match="Customer already exists for the merchant"):
        new_customer(client, 1)
    with pytest.raises(BadRequestError, match="Customer already exists for the merchant"):
        new_customer(client, 1, fail_existing="1")


def test_fail_existing_string_zero_returns_the_existing_customer(
    client: razorpay.Client,
) -> None:
    first = new_customer(client, 1, notes={"togai_account_id": "acc-1"})

    again = new_customer(client, 1, fail_existing="0", name="Another Name")

    assert again == first
    # Same email with another contact is another customer.
    other = new_customer(client, 1, contact="+919000000001")
    assert other["id"] != first["id"]


def test_numeric_zero_is_not_the_string_zero(client: razorpay.Client) -> None:
    new_customer(client, 1)
    with pytest.raises(BadRequestError, match="already exists"):
        new_customer(client, 1, fail_existing=0)


def test_create_validates_fields(client: razorpay.Client) -> None:
    with pytest.raises(BadRequestError, match="at least 8 digits"):
        client.customer.create({"name": "Short Contact", "contact": "12345"})
    with pytest.raises(BadRequestError, match="is/are not required and should not be sent"):
        client.customer.create({"name": "Extra Field", "nickname": "x"})
    with pytest.raises(BadRequestError, match=r"^The name format is invalid\.$"):
        client.customer.create({"name": "Al"})


# Real-world names Razorpay refuses (razorpay-api.md §3.2: letters, digits, spaces and
# `. ' / @ ( )`, 3-50 characters); one message for all, too short included.
REFUSED_NAMES = [
    "Acme, Inc.",
    "Tata-Steel & Co",
    "Foo_Bar Ltd",
    "A+B Corp",
    "José Müller",
    "Al",
    "x" * 51,
    "Tab\tName",
]
ACCEPTED_NAMES = ["Acme Inc.", "O'Brien (India) Pvt. Ltd.", "R/D @ Home 42", "abc", "x" * 50]


@pytest.mark.parametrize("name", REFUSED_NAMES)
def test_name_format_is_refused_on_create_edit_and_inline_invoice_customer(
    client: razorpay.Client, name: str
) -> None:
    with pytest.raises(BadRequestError, match=r"^The name format is invalid\.$"):
        client.customer.create({"name": name, "email": "named@example.com"})
    existing = new_customer(client, 1)
    with pytest.raises(BadRequestError, match=r"^The name format is invalid\.$"):
        client.customer.edit(existing["id"], {"name": name})
    with pytest.raises(BadRequestError, match=r"^The name format is invalid\.$"):
        client.invoice.create(
            {
                "type": "invoice",
                "customer": {"name": name, "email": "inline@example.com"},
                "line_items": [{"name": "Plan", "amount": 1000}],
            }
        )
    # Nothing was created or changed by the refusals.
    assert [c["id"] for c in client.customer.all()["items"]] == [existing["id"]]
    assert client.customer.fetch(existing["id"])["name"] == existing["name"]
    assert client.invoice.all()["count"] == 0


@pytest.mark.parametrize("name", ACCEPTED_NAMES)
def test_names_in_the_documented_alphabet_are_accepted(client: razorpay.Client, name: str) -> None:
    created = client.customer.create({"name": name})
    assert created["name"] == name
    assert client.customer.edit(created["id"], {"name": name[::-1]})["name"] == name[::-1]


def test_refused_name_body_names_the_field(sandbox: Sandbox) -> None:
    response = sandbox.control.post(
        "/v1/customers", json={"name": "Acme, Inc."}, auth=(KEY_ID, KEY_SECRET)
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "BAD_REQUEST_ERROR",
        "description": "The name format is invalid.",
        "field": "name",
        "source": "business",
        "step": "payment_initiation",
        "reason": "input_validation_failed",
        "metadata": {},
    }


def test_list_is_newest_first_and_pages_to_the_end(client: razorpay.Client) -> None:
    made = [new_customer(client, n)["id"] for n in range(23)]

    seen: list[str] = []
    skip = 0
    while True:
        page = client.customer.all({"count": 10, "skip": skip})
        assert page["entity"] == "collection"
        assert page["count"] == len(page["items"])
        seen += [c["id"] for c in page["items"]]
        if len(page["items"]) < 10:
            break
        skip += 10

    assert seen == list(reversed(made))


def test_list_count_limit_and_time_window(client: razorpay.Client) -> None:
    created = new_customer(client, 1)
    with pytest.raises(BadRequestError, match="The count may not be greater than 100."):
        client.customer.all({"count": 101})

    at = created["created_at"]
    assert client.customer.all({"from": at, "to": at})["count"] == 1
    assert client.customer.all({"from": at + 1})["count"] == 0
    assert client.customer.all({"to": at - 1})["count"] == 0


def test_edit_with_put_changes_fields_and_checks_the_pair(client: razorpay.Client) -> None:
    first = new_customer(client, 1)
    second = new_customer(client, 2)

    edited = client.customer.edit(first["id"], {"name": "Renamed Person"})
    assert edited["name"] == "Renamed Person"
    assert client.customer.fetch(first["id"])["name"] == "Renamed Person"

    with pytest.raises(BadRequestError, match="Customer already exists for the merchant"):
        client.customer.edit(first["id"], {"email": second["email"], "contact": second["contact"]})
    # The old pair is free again once changed.
    client.customer.edit(first["id"], {"email": "moved@example.com"})
    again = new_customer(client, 1)
    assert again["id"] != first["id"]


def test_missing_and_malformed_ids(client: razorpay.Client) -> None:
    with pytest.raises(BadRequestError, match="^The id provided does not exist$"):
        client.customer.fetch("cust_AAAAAAAAAAAAAA")
    with pytest.raises(BadRequestError, match="^LQPd9lomgwDE5Fs is not a valid id$"):
        client.customer.fetch("cust_LQPd9lomgwDE5Fs")
