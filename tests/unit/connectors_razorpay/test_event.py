"""A payment turned into the event its webhook would have made (catch-up, reconciliation)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from billsync.connectors.razorpay import models
from billsync.connectors.razorpay.event import (
    INVOICE_PAID,
    INVOICE_PARTIALLY_PAID,
    PAYMENT_LINK_PAID,
    PAYMENT_LINK_PARTIALLY_PAID,
    invoice_payment_type,
    payment_event,
    payment_link_payment_type,
)
from billsync.connectors.razorpay.webhook import parse_webhook

INVOICE = {
    "id": "inv_R1",
    "entity": "invoice",
    "status": "paid",
    "amount": 10000,
    "amount_paid": 10000,
    "order_id": "order_R1",
    "notes": {"togai_invoice_id": "tg.inv.1", "togai_account_id": "acc.1"},
}
PAYMENT = {
    "id": "pay_R1",
    "entity": "payment",
    "amount": 10000,
    "currency": "INR",
    "status": "captured",
    "captured": True,
    "invoice_id": "inv_R1",
    "order_id": "order_R1",
    "notes": {},
    "created_at": 1767000000,
}
ORDER = {"id": "order_R1", "entity": "order", "amount": 10000, "notes": {}}


def _webhook(event: str, **entities: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "entity": "event",
            "account_id": None,
            "event": event,
            "contains": list(entities),
            "payload": {name: {"entity": entity} for name, entity in entities.items()},
            "created_at": 1767000003,
        }
    ).encode()


@pytest.mark.parametrize("as_models", [False, True])
async def test_the_invoice_paid_event_equals_the_webhooks(as_models: bool) -> None:
    payment: Any = models.Payment.model_validate(PAYMENT) if as_models else PAYMENT
    invoice: Any = models.Invoice.model_validate(INVOICE) if as_models else INVOICE
    order: Any = models.Order.model_validate(ORDER) if as_models else ORDER
    made = payment_event(INVOICE_PAID, payment, invoice=invoice, order=order)
    [hooked] = await parse_webhook(
        None,
        {"X-Razorpay-Event-Id": "evt_whatever"},
        _webhook("invoice.paid", payment=PAYMENT, order=ORDER, invoice=INVOICE),
    )
    assert (
        (made.trigger, made.event_type, made.external_id, made.entity_key)
        == (
            hooked.trigger,
            hooked.event_type,
            hooked.external_id,
            hooked.entity_key,
        )
        == ("invoice.paid", "invoice.paid", "invoice.paid:pay_R1", "togai-account:acc.1")
    )
    assert made.payload == hooked.payload


async def test_payment_link_and_plain_payment_events() -> None:
    link = {"id": "plink_1", "entity": "payment_link", "amount": 10000, "status": "paid",
            "notes": {"togai_account_id": "acc.9"}}  # fmt: skip
    plain = {**PAYMENT, "invoice_id": None}
    made = payment_event(PAYMENT_LINK_PAID, plain, payment_link=link)
    assert (made.trigger, made.external_id, made.entity_key) == (
        "payment_link.paid",
        "payment_link.paid:pay_R1",
        "togai-account:acc.9",
    )
    captured = payment_event("payment.captured", plain)
    assert (captured.trigger, captured.external_id, captured.entity_key) == (
        "payment.captured",
        "payment.captured:pay_R1",
        "razorpay-payment:pay_R1",
    )
    assert set(captured.payload) == {"event", "account_id", "payment"}


def _pay(pid: str, amount: int, created: int, status: str = "captured") -> models.Payment:
    return models.Payment.model_validate(
        {
            "id": pid,
            "amount": amount,
            "currency": "INR",
            "status": status,
            "captured": status == "captured",
            "created_at": created,
        }  # fmt: skip
    )


def _invoice(status: str, amount: int = 10000) -> models.Invoice:
    return models.Invoice.model_validate({**INVOICE, "status": status, "amount": amount})


def test_which_invoice_event_a_payment_made() -> None:
    first, second = _pay("pay_1", 4000, 100), _pay("pay_2", 6000, 200)
    failed = _pay("pay_0", 6000, 50, status="failed")
    # A payment that covers the invoice completed it; no other call needed.
    assert invoice_payment_type(_pay("pay_9", 10000, 1), _invoice("paid")) == INVOICE_PAID
    # Still partly due: this payment completed nothing.
    assert invoice_payment_type(first, _invoice("partially_paid")) == INVOICE_PARTIALLY_PAID
    assert invoice_payment_type(first, _invoice("expired")) == INVOICE_PARTIALLY_PAID
    # Paid now by several payments: only the order's payments tell which one finished it.
    assert invoice_payment_type(first, _invoice("paid")) is None
    order = [second, failed, first]  # newest first, as Razorpay lists them
    assert invoice_payment_type(first, _invoice("paid"), order) == INVOICE_PARTIALLY_PAID
    assert invoice_payment_type(second, _invoice("paid"), order) == INVOICE_PAID
    # Two payments in the same second (created_at has second precision): the list's order
    # tells which came last, whatever their ids.
    early, late = _pay("pay_Z", 4000, 300), _pay("pay_A", 6000, 300)
    assert invoice_payment_type(late, _invoice("paid"), [late, early]) == INVOICE_PAID
    assert invoice_payment_type(early, _invoice("paid"), [late, early]) == (INVOICE_PARTIALLY_PAID)


def test_which_payment_link_event_a_payment_made() -> None:
    def link(status: str, payments: list[dict[str, Any]] | None) -> models.PaymentLink:
        return models.PaymentLink.model_validate(
            {"id": "plink_1", "amount": 10000, "status": status, "payments": payments}
        )

    part, rest = _pay("pay_1", 4000, 100), _pay("pay_2", 6000, 200)
    rows = [
        {"payment_id": "pay_1", "amount": 4000, "created_at": 100},
        {"payment_id": "pay_2", "amount": 6000, "created_at": 200},
    ]
    assert payment_link_payment_type(part, link("partially_paid", rows[:1])) == (
        PAYMENT_LINK_PARTIALLY_PAID
    )
    assert payment_link_payment_type(part, link("paid", rows)) == PAYMENT_LINK_PARTIALLY_PAID
    assert payment_link_payment_type(rest, link("paid", rows)) == PAYMENT_LINK_PAID
    assert payment_link_payment_type(_pay("pay_3", 10000, 5), link("paid", None)) == (
        PAYMENT_LINK_PAID
    )
