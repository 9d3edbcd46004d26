"""Webhook events from the Togai sandbox, received by a local listener over real sockets."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import togai_client
from togai_client.models import UpdateInvoiceRequest

from billsync.sandbox.togai import TogaiSandboxConfig
from tests.contract.sandbox_togai.conftest import Listener, Sandbox, new_customer, running

FAST = TogaiSandboxConfig(
    seed=3, webhook_base_delay=0.02, webhook_max_delay=0.1, webhook_max_attempts=4
)


@pytest.fixture
def fast_sandbox() -> Iterator[Sandbox]:
    with running(FAST) as sandbox:
        yield sandbox


def test_events_for_accounts_and_invoices(fast_sandbox: Sandbox, listener: Listener) -> None:
    sandbox = fast_sandbox
    r = sandbox.control("POST", "/webhooks", json={"url": listener.url})
    assert r.status_code == 201
    with sandbox.api() as api:
        new_customer(api, "ACME")
        listener.wait_for(lambda got: len(got) == 1)
        draft = sandbox.invoice("ACME", 100, status="DRAFT")
        due = sandbox.invoice("ACME", 200)
        sandbox.control("POST", f"/invoices/{draft}/generate")
        togai_client.InvoicesApi(api).update_invoice(due, UpdateInvoiceRequest(status="PAID"))
        listener.wait_for(lambda got: len(got) == 4)
        sandbox.control("POST", f"/invoices/{draft}/void")
        listener.wait_for(lambda got: len(got) == 5)

    account_event = listener.received[0]
    assert account_event["type"] == "account.created"
    assert account_event["data"] == {
        "entityType": "ACCOUNT",
        "entityId": "ACME",
        "customerId": "ACME",
        "status": "ACTIVE",
    }
    assert account_event["id"].startswith("evt.") and account_event["createdAt"].endswith("Z")
    assert listener.headers[0]["x-togai-event-id"] == account_event["id"]
    assert "x-sandbox-signature" not in listener.headers[0]
    # Order across events is not promised (a provider does not either): compare as sets.
    invoice_events = {
        (e["type"], e["data"]["entityId"], e["data"]["status"]) for e in listener.received[1:]
    }
    assert invoice_events == {
        ("invoice.generated", due, "DUE"),
        ("invoice.generated", draft, "DUE"),
        ("invoice.updated", due, "PAID"),
        ("invoice.updated", draft, "VOID"),
    }
    deliveries = sandbox.settled_deliveries()
    assert len(deliveries) == 5 and {d["status"] for d in deliveries} == {"delivered"}


def test_payments_emit_partial_then_paid(fast_sandbox: Sandbox, listener: Listener) -> None:
    sandbox = fast_sandbox
    sandbox.control("POST", "/webhooks", json={"url": listener.url})
    with sandbox.http() as http:
        http.post(
            "/customers",
            json={"id": "ACME", "name": "ACME", "primaryEmail": "a@b.c", "address": {}},
        )
        invoice = sandbox.invoice("ACME", 100)
        listener.wait_for(lambda got: len(got) == 2)
        for ref, amount in (("pay_1", 40), ("pay_2", 60)):
            before = len(listener.received)
            r = http.post(
                "/payments",
                json={
                    "accountId": "ACME",
                    "currency": "INR",
                    "totalAmount": amount,
                    "externalPaymentReference": {
                        "sourceName": "Razorpay",
                        "sourceType": "GATEWAY",
                        "transactionNumber": ref,
                    },
                    "lineItemRecords": [{"type": "INVOICE", "togaiId": invoice, "order": 1}],
                },
            )
            assert r.status_code == 201
            listener.wait_for(lambda got, n=before: len(got) == n + 1)
    assert [e["data"]["status"] for e in listener.received[2:]] == ["PARTIALLY_PAID", "PAID"]
    assert listener.types()[2:] == ["invoice.updated", "invoice.updated"]


def test_a_failing_target_is_retried_until_it_answers(
    fast_sandbox: Sandbox, listener: Listener
) -> None:
    listener.fail_first = 2
    sandbox = fast_sandbox
    sandbox.control("POST", "/webhooks", json={"url": listener.url, "secret": "whsec"})
    with sandbox.api() as api:
        new_customer(api, "ACME")
    listener.wait_for(lambda got: len(got) == 1)
    [delivery] = sandbox.settled_deliveries()
    assert delivery["attempts"] == 3 and delivery["status"] == "delivered"
    assert listener.refused == 2
    assert listener.headers[0]["x-sandbox-signature"].startswith("sha256=")
    targets = sandbox.control("GET", "/webhooks").json()["targets"]
    assert targets == [{"url": listener.url, "has_secret": True}]  # the secret is never shown


def test_an_unreachable_target_fails_after_max_attempts(fast_sandbox: Sandbox) -> None:
    sandbox = fast_sandbox
    dead = httpx.URL(sandbox.url).copy_with(path="/nothing-listens-here")
    sandbox.control("POST", "/webhooks", json={"url": str(dead)})  # the sandbox 404s it
    with sandbox.api() as api:
        new_customer(api, "ACME")

    [delivery] = sandbox.settled_deliveries()
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == 4 and delivery["last_status"] == 404
    assert sandbox.control("GET", "/stats").json()["webhooks"]["failed"] == 1


def test_duplicate_fault_delivers_the_same_event_twice(
    fast_sandbox: Sandbox, listener: Listener
) -> None:
    sandbox = fast_sandbox
    sandbox.control("POST", "/webhooks", json={"url": listener.url})
    sandbox.control("POST", "/faults", json={"webhook_duplicate_rate": 1.0})
    with sandbox.api() as api:
        new_customer(api, "ACME")
    listener.wait_for(lambda got: len(got) == 2)
    first, second = listener.received
    assert first == second
    assert listener.headers[0]["x-togai-event-id"] == listener.headers[1]["x-togai-event-id"]


def test_injected_delivery_failures_are_retried(fast_sandbox: Sandbox, listener: Listener) -> None:
    sandbox = fast_sandbox
    sandbox.control("POST", "/webhooks", json={"url": listener.url})
    sandbox.control("POST", "/faults", json={"webhook_failure_rate": 0.5, "seed": 2})
    with sandbox.api() as api:
        for n in range(4):
            new_customer(api, f"C{n}")
    listener.wait_for(lambda got: len(got) == 4)
    deliveries = sandbox.settled_deliveries()
    assert any(d["attempts"] > 1 for d in deliveries)
    assert sorted(e["data"]["entityId"] for e in listener.received) == ["C0", "C1", "C2", "C3"]


def test_startup_targets_come_from_the_config(listener: Listener) -> None:
    with running(TogaiSandboxConfig(webhook_urls=(listener.url,))) as sandbox:
        with sandbox.api() as api:
            new_customer(api, "ACME")
        listener.wait_for(lambda got: len(got) == 1)
        assert sandbox.control("POST", "/reset").status_code == 200
        assert sandbox.control("GET", "/webhooks").json()["targets"] == [
            {"url": listener.url, "has_secret": False}
        ]
        assert sandbox.control("DELETE", "/webhooks").json() == {"targets": []}


def test_webhook_concurrency_comes_from_the_config() -> None:
    from billsync.sandbox.togai import create_app

    assert create_app().dispatcher.concurrency == 1
    assert create_app(TogaiSandboxConfig(webhook_concurrency=4)).dispatcher.concurrency == 4


def test_control_plane_customer_create_skips_the_rate_limit_and_still_emits(
    listener: Listener,
) -> None:
    # What a rate-limited benchmark seeds with: the limit stays billsync's alone.
    with running(TogaiSandboxConfig(seed=3, rate_limit=1.0)) as sandbox:
        assert sandbox.control("POST", "/webhooks", json={"url": listener.url}).status_code == 201
        for i in range(3):
            r = sandbox.control(
                "POST",
                "/customers",
                json={
                    "id": f"CP{i}",
                    "name": f"Customer CP{i}",
                    "primaryEmail": f"cp{i}@example.com",
                    "address": {"line1": "1 MG Road", "city": "Bengaluru", "country": "IN"},
                },
            )
            assert r.status_code == 201, r.text
            assert r.json()["account"]["id"] == f"CP{i}"
        listener.wait_for(lambda got: len(got) == 3)
        stats = sandbox.control("GET", "/stats").json()
        assert stats["requests"] == {} and stats["objects"]["accounts"] == 3
