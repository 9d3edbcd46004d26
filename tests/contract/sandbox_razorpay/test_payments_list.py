"""GET /v1/payments through the official SDK (`client.payment.all`) on a real socket:
`from`/`to` bounds (Unix seconds, inclusive), `count` (default 10, max 100), `skip`, newest
first, and Razorpay's refusals (razorpay-api.md §6.1; fetch-all-payments "Errors")."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
import razorpay
from razorpay.errors import BadRequestError

from billsync.sandbox.razorpay import RazorpaySandboxConfig, create_app
from tests.contract.sandbox_razorpay.conftest import (
    KEY_ID,
    KEY_SECRET,
    Sandbox,
    new_customer,
    new_invoice,
)
from tests.servers import serve

T0 = 1_767_000_000


class Clock:
    def __init__(self) -> None:
        self.now = float(T0)

    def __call__(self) -> float:
        return self.now


CONFIG = RazorpaySandboxConfig(key_id=KEY_ID, key_secret=KEY_SECRET)


def _serve(config: RazorpaySandboxConfig) -> Iterator[Sandbox]:
    app = create_app(config)
    with serve(app) as url, httpx.Client(base_url=url, timeout=10) as control:
        yield Sandbox(url, app, control)


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def timed(clock: Clock) -> Iterator[Sandbox]:
    yield from _serve(replace(CONFIG, clock=clock))


@pytest.fixture(scope="module")
def paid(timed: Sandbox, clock: Clock) -> list[dict[str, Any]]:
    """12 captured payments, one every 10 s from T0, oldest first."""
    client = timed.client()
    payments: list[dict[str, Any]] = []
    for n in range(12):
        clock.now = T0 + 10 * n
        invoice = new_invoice(client, new_customer(client, n + 1)["id"])
        answer = timed.post(f"/invoices/{invoice['id']}/pay").json()
        payments.append(client.payment.fetch(answer["payment_id"]))
    clock.now = T0 + 1000
    return payments


def _ids(found: dict[str, Any]) -> list[str]:
    return [p["id"] for p in found["items"]]


def test_newest_first_with_default_count_and_skip(
    timed: Sandbox, paid: list[dict[str, Any]]
) -> None:
    client = timed.client()
    newest_first = [p["id"] for p in reversed(paid)]
    everything = client.payment.all()
    assert everything["entity"] == "collection"
    # Default count is 10; `count` is the page size, not a total.
    assert (everything["count"], _ids(everything)) == (10, newest_first[:10])
    assert _ids(client.payment.all({"count": 100})) == newest_first
    assert _ids(client.payment.all({"count": 5, "skip": 10})) == newest_first[10:]
    assert client.payment.all({"skip": 12}) == {"entity": "collection", "count": 0, "items": []}


def test_from_and_to_are_inclusive_bounds_on_created_at(
    timed: Sandbox, paid: list[dict[str, Any]]
) -> None:
    client = timed.client()
    assert [p["created_at"] for p in paid[:3]] == [T0, T0 + 10, T0 + 20]
    window = client.payment.all({"from": T0 + 10, "to": T0 + 30, "count": 100})
    assert _ids(window) == [paid[3]["id"], paid[2]["id"], paid[1]["id"]]
    assert _ids(client.payment.all({"from": T0 + 11, "to": T0 + 29})) == [paid[2]["id"]]
    # Paging inside a window.
    second = client.payment.all({"from": T0, "to": T0 + 110, "count": 4, "skip": 4})
    assert _ids(second) == [paid[i]["id"] for i in (7, 6, 5, 4)]
    # An empty window and a reversed one answer an empty page.
    assert _ids(client.payment.all({"from": T0 + 500})) == []
    assert _ids(client.payment.all({"from": T0 + 30, "to": T0 + 10})) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": 0}, "from must be between 946684800 and 4765046400"),
        ({"from": 946684799}, "from must be between 946684800 and 4765046400"),
        ({"from": 4765046401}, "from must be between 946684800 and 4765046400"),
        ({"to": 1}, "to must be between 946684800 and 4765046400"),
        ({"count": 101}, "The count may not be greater than 100."),
        ({"count": 0}, "The count must be at least 1."),
        ({"skip": -1}, "The skip must be at least 0."),
        ({"from": "yesterday"}, "The from must be an integer."),
        ({"status": "captured"}, "status is/are not required and should not be sent"),
    ],
)
def test_refusals(timed: Sandbox, params: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequestError) as raised:
        timed.client().payment.all(params)
    assert str(raised.value) == message
    answer = timed.control.get("/v1/payments", params=params, auth=(KEY_ID, KEY_SECRET))
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BAD_REQUEST_ERROR"


def test_the_range_edges_are_accepted(timed: Sandbox, paid: list[dict[str, Any]]) -> None:
    client = timed.client()
    assert len(client.payment.all({"from": 946684800, "to": 4765046400, "count": 100})["items"])
    assert client.payment.all({"count": 100})["count"] == len(paid)


def test_to_exclusive_is_a_switch_for_the_unconfirmed_edge() -> None:
    clock = Clock()
    for sandbox in _serve(replace(CONFIG, clock=clock, payments_to_inclusive=False)):
        client: razorpay.Client = sandbox.client()
        invoice = new_invoice(client, new_customer(client)["id"])
        sandbox.post(f"/invoices/{invoice['id']}/pay")
        assert _ids(client.payment.all({"to": T0})) == []
        assert len(_ids(client.payment.all({"to": T0 + 1}))) == 1
