"""Razorpay catch-up end to end: `billsync serve` against both sandboxes on real sockets.

Payments reach Togai when Razorpay's webhook target is gone (catch-up polling of
GET /v1/payments), once when both webhook and poll see them, and a replayed signed body
under another event id changes nothing. Partial payments, switched on by the invoice
template's option, work end to end.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from billsync.store import cursors, events
from billsync.store.models import Event
from tests.e2e.conftest import BACKENDS
from tests.e2e.harness import RZP_WEBHOOK_SECRET, Stack, eventually

pytestmark = pytest.mark.e2e

PARTIAL_ON = {"togai-invoice-to-razorpay-invoice": {"partial_payment": True}}


async def _synced_invoice(stack: Stack, account: str, total: str) -> tuple[str, dict[str, Any]]:
    await stack.new_account(account)
    togai_id = await stack.new_invoice(account, total)
    await stack.wait_settled(2)

    async def created() -> bool:
        return bool(await stack.rzp_invoices_for(togai_id))

    await eventually(created, f"a Razorpay invoice for {togai_id}")
    [invoice] = await stack.rzp_invoices_for(togai_id)
    return togai_id, invoice


async def _remove_razorpay_webhooks(stack: Stack) -> None:
    assert stack.razorpay is not None
    r = await stack.razorpay.delete("/_sandbox/webhooks")
    assert r.status_code in (200, 204), r.text
    assert (await stack.razorpay.get("/_sandbox/webhooks")).json()["targets"] == []


async def _deliveries(stack: Stack) -> list[dict[str, Any]]:
    assert stack.razorpay is not None
    r = await stack.razorpay.get("/_sandbox/webhooks/deliveries")
    return list(r.json()["deliveries"])


async def _events_of(stack: Stack, payment_id: str) -> list[Event]:
    assert stack.db is not None
    found = []
    async with stack.db.read() as session:
        for event_type in ("invoice.paid", "invoice.partially_paid"):
            event = await events.by_external_id(
                session, stack.razorpay_connection, f"{event_type}:{payment_id}"
            )
            if event is not None:
                found.append(event)
    return found


async def _polled_past(stack: Stack, created_at: int) -> None:
    """Wait until a catch-up poll's window has covered `created_at`."""
    assert stack.db is not None
    db = stack.db

    async def covered() -> bool:
        async with db.read() as session:
            cursor = await cursors.get(session, stack.razorpay_connection, "payments")
        return cursor is not None and int(cursor["since"]) > created_at

    await eventually(covered, "a catch-up poll past the payment", within=30)


async def _replay(stack: Stack, payment_id: str, event_id: str | None) -> httpx.Response:
    """Razorpay's invoice.paid webhook for the payment, signed, posted to billsync's socket."""
    assert stack.razorpay is not None
    payment = (await stack.razorpay.get(f"/v1/payments/{payment_id}")).json()
    invoice = (await stack.razorpay.get(f"/v1/invoices/{payment['invoice_id']}")).json()
    order = (await stack.razorpay.get(f"/v1/orders/{payment['order_id']}")).json()
    body = json.dumps(
        {
            "entity": "event",
            "account_id": "acc_SandboxAcct0001",
            "event": "invoice.paid",
            "contains": ["payment", "order", "invoice"],
            "payload": {
                "payment": {"entity": payment},
                "order": {"entity": order},
                "invoice": {"entity": invoice},
            },
            "created_at": payment["created_at"],
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Razorpay-Signature": hmac.new(
            RZP_WEBHOOK_SECRET.encode(), body, hashlib.sha256
        ).hexdigest(),
    }
    if event_id is not None:
        headers["X-Razorpay-Event-Id"] = event_id
    async with httpx.AsyncClient(base_url=stack.billsync_url) as http:
        return await http.post(
            f"/webhooks/razorpay/{stack.razorpay_connection}", content=body, headers=headers
        )


@pytest.mark.parametrize("backend", BACKENDS)
async def test_with_the_webhook_target_removed_catch_up_records_the_payment(
    stack: Stack,
) -> None:
    togai_id, invoice = await _synced_invoice(stack, "lost", "750")
    # As when Razorpay disabled the target after a day of failed deliveries.
    await _remove_razorpay_webhooks(stack)

    payment_id = await stack.pay(str(invoice["id"]))
    await stack.wait_settled(3)
    assert (await stack.togai_invoice(togai_id))["status"] == "PAID"
    [payment] = await stack.togai_payments("lost")
    refs = payment["externalPaymentReferences"]
    refs = refs if isinstance(refs, list) else [refs]
    assert [r["transactionNumber"] for r in refs] == [payment_id]
    assert Decimal(str(payment["totalAmount"])) == Decimal("750")
    # Nothing was delivered: the catch-up poll made the event (no merchant account id,
    # which only a webhook envelope carries).
    assert await _deliveries(stack) == []
    [event] = await _events_of(stack, payment_id)
    assert event.trigger == "invoice.paid" and event.payload["account_id"] is None

    # The webhook arriving after all (a replay from the Dashboard, under any event id, or
    # none) and more polls change nothing.
    for event_id in ("evt_late0000000001", "evt_forged00000002", None):
        late = await _replay(stack, payment_id, event_id)
        assert late.status_code == 200, late.text
        assert late.json() == {"stored": 0, "duplicates": 1, "runs": 0}
    await asyncio.sleep(2.5)
    assert await stack.run_counts() == {"succeeded": 3}
    assert len(await stack.togai_payments("lost")) == 1
    _, razorpay_objects = await stack.objects()
    assert razorpay_objects["payment"] == 1


@pytest.mark.parametrize("backend", BACKENDS)
async def test_webhook_and_poll_of_one_payment_make_one_togai_payment(stack: Stack) -> None:
    togai_id, invoice = await _synced_invoice(stack, "both", "320")
    payment_id = await stack.pay(str(invoice["id"]))
    await stack.wait_settled(3)

    async def delivered() -> bool:
        done = [d for d in await _deliveries(stack) if d["status"] == "delivered"]
        return len(done) == len(await _deliveries(stack)) > 0

    await eventually(delivered, "every Razorpay webhook delivered")
    assert stack.razorpay is not None
    created_at = (await stack.razorpay.get(f"/v1/payments/{payment_id}")).json()["created_at"]
    await _polled_past(stack, created_at)
    await asyncio.sleep(1.5)  # and another poll over the overlap

    assert (await stack.togai_invoice(togai_id))["status"] == "PAID"
    assert len(await stack.togai_payments("both")) == 1
    assert len(await _events_of(stack, payment_id)) == 1
    assert await stack.run_counts() == {"succeeded": 3}


@pytest.mark.parametrize("template_options", [PARTIAL_ON])
@pytest.mark.parametrize("backend", BACKENDS)
async def test_partial_payments_from_the_template_option_end_to_end(stack: Stack) -> None:
    togai_id, invoice = await _synced_invoice(stack, "parts", "1000")
    # billsync created the Razorpay invoice with partial payments allowed.
    assert invoice["partial_payment"] is True

    first = await stack.pay(str(invoice["id"]), amount=40000)
    await stack.wait_settled(3)
    togai_invoice = await stack.togai_invoice(togai_id)
    assert togai_invoice["status"] == "PARTIALLY_PAID"
    assert Decimal(str(togai_invoice["paidAmount"])) == Decimal("400")

    second = await stack.pay(str(invoice["id"]))
    await stack.wait_settled(4)
    togai_invoice = await stack.togai_invoice(togai_id)
    assert togai_invoice["status"] == "PAID"
    assert Decimal(str(togai_invoice["paidAmount"])) == Decimal("1000")
    assert len(await stack.togai_payments("parts")) == 2
    [partly] = await _events_of(stack, first)
    [fully] = await _events_of(stack, second)
    assert (partly.trigger, fully.trigger) == ("invoice.partially_paid", "invoice.paid")


async def test_without_the_option_a_part_payment_is_refused(stack: Stack) -> None:
    _, invoice = await _synced_invoice(stack, "whole", "500")
    assert invoice["partial_payment"] is False
    assert stack.razorpay is not None
    r = await stack.razorpay.post(f"/_sandbox/invoices/{invoice['id']}/pay", json={"amount": 10000})
    assert r.status_code == 400, r.text
