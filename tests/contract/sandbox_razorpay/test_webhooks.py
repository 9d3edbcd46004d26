"""Webhooks: Razorpay's envelope and headers, signatures the SDK verifies, retries, faults."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import razorpay
from razorpay.errors import SignatureVerificationError

from billsync.sandbox.razorpay import RazorpaySandboxConfig, create_app
from billsync.sandbox.razorpay.event import sign
from tests.contract.sandbox_razorpay.conftest import (
    WEBHOOK_SECRET,
    Listener,
    Received,
    Sandbox,
    new_customer,
    new_invoice,
)
from tests.servers import serve

VERIFY = razorpay.Client().utility.verify_webhook_signature


def _verified(received: Received, secret: str = WEBHOOK_SECRET) -> dict[str, Any]:
    # The SDK needs the body as str (bytes raise TypeError) — razorpay-api.md §7.3.
    assert VERIFY(received.body, received.headers["x-razorpay-signature"], secret) is True
    return received.event


def _by_event(listener: Listener) -> dict[str, dict[str, Any]]:
    return {r.event["event"]: _verified(r) for r in listener.received}


def test_published_signature_vector() -> None:
    body = '{"a":1,"b":2,"c":{"d":3}}'
    expected = "2fe04e22977002e6c7cb553adab8b460cb9e2a4970d5953cb27a8472752e3bbc"
    assert sign(body.encode(), "123456") == expected
    assert VERIFY(body, expected, "123456") is True
    with pytest.raises(SignatureVerificationError):
        VERIFY(body, expected.upper(), "123456")
    with pytest.raises(SignatureVerificationError):
        VERIFY(body + " ", expected, "123456")


def test_invoice_payment_emits_the_four_events(
    sandbox: Sandbox, client: razorpay.Client, listener: Listener
) -> None:
    customer = new_customer(client)
    notes = {"togai_invoice_id": "tg-inv-1", "togai_account_id": "tg-acc-1"}
    invoice = new_invoice(client, customer["id"], notes=notes, receipt="tg-inv-1")

    paid = sandbox.post(f"/invoices/{invoice['id']}/pay", {"method": "upi"}).json()

    expected = {"payment.authorized", "payment.captured", "order.paid", "invoice.paid"}
    listener.wait_for(lambda got: {r.event["event"] for r in got} == expected)
    events = _by_event(listener)
    event_ids = [r.headers["x-razorpay-event-id"] for r in listener.received]
    assert len(set(event_ids)) == 4

    invoice_paid = events["invoice.paid"]
    assert set(invoice_paid) == {
        "entity",
        "account_id",
        "event",
        "contains",
        "payload",
        "created_at",
    }
    assert invoice_paid["entity"] == "event"
    assert invoice_paid["contains"] == ["payment", "order", "invoice"]
    entity = invoice_paid["payload"]["invoice"]["entity"]
    assert (entity["id"], entity["status"], entity["notes"]) == (invoice["id"], "paid", notes)
    payment = invoice_paid["payload"]["payment"]["entity"]
    assert payment["id"] == paid["payment_id"]
    assert (payment["invoice_id"], payment["order_id"]) == (invoice["id"], invoice["order_id"])
    assert events["order.paid"]["contains"] == ["payment", "order"]
    assert events["order.paid"]["payload"]["order"]["entity"]["status"] == "paid"
    # Each payload is a snapshot at event time.
    authorized = events["payment.authorized"]["payload"]["payment"]["entity"]
    assert (authorized["status"], authorized["captured"]) == ("authorized", False)
    assert events["payment.captured"]["payload"]["payment"]["entity"]["status"] == "captured"
    assert listener.received[0].headers["content-type"] == "application/json"


def test_partial_payment_then_rest(
    sandbox: Sandbox, client: razorpay.Client, listener: Listener
) -> None:
    invoice = new_invoice(client, new_customer(client)["id"], partial_payment=True)
    sandbox.post(f"/invoices/{invoice['id']}/pay", {"amount": 10000})
    listener.wait_for(lambda got: "invoice.partially_paid" in {r.event["event"] for r in got})
    assert "order.paid" not in listener.events()

    sandbox.post(f"/invoices/{invoice['id']}/pay")
    listener.wait_for(lambda got: "invoice.paid" in {r.event["event"] for r in got})
    partial = _by_event(listener)["invoice.partially_paid"]["payload"]["invoice"]["entity"]
    assert (partial["status"], partial["amount_paid"]) == ("partially_paid", 10000)


def test_expiry_link_payment_refund_and_cancel_events(
    sandbox: Sandbox, client: razorpay.Client, listener: Listener
) -> None:
    invoice = new_invoice(client, new_customer(client)["id"])
    sandbox.post(f"/invoices/{invoice['id']}/expire")
    link = client.payment_link.create({"amount": 5000, "reference_id": "tg-inv-2"})
    payment_id = sandbox.post(f"/payment_links/{link['id']}/pay").json()["payment_id"]
    client.payment.refund(payment_id, {"amount": 1000})
    other = client.payment_link.create({"amount": 5000})
    client.payment_link.cancel(other["id"])

    wanted = {
        "invoice.expired",
        "payment_link.paid",
        "refund.created",
        "refund.processed",
        "payment_link.cancelled",
    }
    listener.wait_for(lambda got: wanted <= {r.event["event"] for r in got})
    events = _by_event(listener)
    assert events["invoice.expired"]["contains"] == ["invoice"]
    link_paid = events["payment_link.paid"]
    assert link_paid["contains"] == ["payment_link", "order", "payment"]
    assert link_paid["payload"]["payment_link"]["entity"]["reference_id"] == "tg-inv-2"
    assert link_paid["payload"]["payment"]["entity"]["invoice_id"] is None
    assert events["refund.processed"]["contains"] == ["refund", "payment"]


def test_no_webhooks_for_issue_cancel_delete(
    sandbox: Sandbox, client: razorpay.Client, listener: Listener
) -> None:
    customer = new_customer(client)
    draft = new_invoice(client, customer["id"], draft="1")
    client.invoice.issue(draft["id"])
    client.invoice.cancel(draft["id"])
    client.invoice.delete(new_invoice(client, customer["id"], draft="1")["id"])
    # A later event proves the queue ran; nothing came before it.
    sandbox.post(f"/invoices/{new_invoice(client, customer['id'])['id']}/expire")
    listener.wait_for(lambda got: len(got) >= 1)
    assert listener.events() == ["invoice.expired"]


def test_failed_deliveries_are_retried_and_listed(
    sandbox: Sandbox, client: razorpay.Client, listener: Listener
) -> None:
    listener.failures_left = 2
    invoice = new_invoice(client, new_customer(client)["id"])
    sandbox.post(f"/invoices/{invoice['id']}/expire")

    listener.wait_for(lambda got: len(got) == 1)
    deliveries = sandbox.settled_deliveries()
    assert len(deliveries) == 1
    assert deliveries[0]["event_type"] == "invoice.expired"
    assert (deliveries[0]["status"], deliveries[0]["attempts"]) == ("delivered", 3)
    assert deliveries[0]["event_id"] == listener.received[0].headers["x-razorpay-event-id"]
    _verified(listener.received[0])


def test_duplicate_fault_repeats_the_event_id(
    sandbox: Sandbox, client: razorpay.Client, listener: Listener
) -> None:
    sandbox.faults(webhook_duplicate_rate=1.0)
    invoice = new_invoice(client, new_customer(client)["id"])
    sandbox.post(f"/invoices/{invoice['id']}/expire")

    listener.wait_for(lambda got: len(got) == 2)
    first, second = listener.received
    assert first.headers["x-razorpay-event-id"] == second.headers["x-razorpay-event-id"]
    assert first.body == second.body


def test_target_secret_and_configured_default_secret(served_listener: Listener) -> None:
    served_listener.received.clear()
    config = RazorpaySandboxConfig(
        webhook_urls=(served_listener.url,), webhook_secret="configured_secret"
    )
    with serve(create_app(config)) as url:
        sdk = razorpay.Client(auth=(config.key_id, config.key_secret), base_url=url)
        customer = sdk.customer.create({"name": "Default Secret"})
        invoice = sdk.invoice.create(
            {
                "type": "invoice",
                "customer_id": customer["id"],
                "line_items": [{"name": "Plan", "amount": 1000}],
            }
        )
        httpx.post(f"{url}/_sandbox/invoices/{invoice['id']}/expire")
        served_listener.wait_for(lambda got: len(got) == 1)
    received = served_listener.received[0]
    _verified(received, "configured_secret")
    with pytest.raises(SignatureVerificationError):
        _verified(received, WEBHOOK_SECRET)


def test_webhook_concurrency_comes_from_the_config() -> None:
    assert create_app().dispatcher.concurrency == 1
    assert create_app(RazorpaySandboxConfig(webhook_concurrency=4)).dispatcher.concurrency == 4
