"""Webhook signatures (Razorpay's published vectors) and event extraction per catalogue.md."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billsync import errors
from billsync.connectors.razorpay import APP
from billsync.connectors.razorpay.webhook import parse_webhook, signature, verify_webhook

#: Exact bytes of razorpay-python tests/mocks/fake_payment_authorized_webhook.json (971 B).
NODE_DIGEST = "2fe04e22977002e6c7cb553adab8b460cb9e2a4970d5953cb27a8472752e3bbc"
SDK_DIGEST = "d60e67fd884556c045e9be7dad57903e33efc7172c17c6e3ef77db42d2b366e9"
SDK_BODY = (Path(__file__).parent / "fixtures" / "payment_authorized_webhook.json").read_bytes()


@pytest.mark.parametrize(
    ("secret", "body", "digest"),
    [
        (
            "123456",
            b'{"a":1,"b":2,"c":{"d":3}}',
            "2fe04e22977002e6c7cb553adab8b460cb9e2a4970d5953cb27a8472752e3bbc",
        ),
        (
            "key_secret",
            SDK_BODY,
            "d60e67fd884556c045e9be7dad57903e33efc7172c17c6e3ef77db42d2b366e9",
        ),
    ],
)
def test_published_vectors(secret: str, body: bytes, digest: str) -> None:
    assert signature(body, secret) == digest
    verify_webhook({"X-Razorpay-Signature": digest}, body, secret)
    verify_webhook({"x-razorpay-signature": digest}, body, secret)  # header case varies


@pytest.mark.parametrize(
    ("headers", "secret", "fragment"),
    [
        ({}, "123456", "Missing X-Razorpay-Signature"),
        ({"X-Razorpay-Signature": ""}, "123456", "Missing"),
        ({"X-Razorpay-Signature": "0" * 64}, "123456", "does not match"),
        # The SDK compares lowercase hex; an uppercase digest does not match there either.
        (
            {"X-Razorpay-Signature": NODE_DIGEST.upper()},
            "123456",
            "does not match",
        ),
        ({"X-Razorpay-Signature": "é" * 64}, "123456", "does not match"),
        (
            {"X-Razorpay-Signature": NODE_DIGEST},
            "wrong",
            "does not match",
        ),
        ({"X-Razorpay-Signature": "abc"}, "", "no webhook secret"),
    ],
)
def test_wrong_or_missing_signatures_are_refused(
    headers: dict[str, str], secret: str, fragment: str
) -> None:
    with pytest.raises(errors.SignatureError, match=fragment):
        verify_webhook(headers, b'{"a":1,"b":2,"c":{"d":3}}', secret)


def test_signature_is_checked_before_parsing() -> None:
    # Not JSON at all: a signature error, never a parse error.
    with pytest.raises(errors.SignatureError):
        verify_webhook({"X-Razorpay-Signature": "00"}, b"\xff not json", "s")


@given(body=st.binary(max_size=512), secret=st.text(min_size=1, max_size=40))
def test_any_body_round_trips_and_any_change_is_caught(body: bytes, secret: str) -> None:
    digest = signature(body, secret)
    verify_webhook({"X-Razorpay-Signature": digest}, body, secret)
    with pytest.raises(errors.SignatureError):
        verify_webhook({"X-Razorpay-Signature": digest}, body + b" ", secret)


def _envelope(event: str, **entities: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "entity": "event",
            "account_id": "acc_BFQ7uQEaa7j2z7",
            "event": event,
            "contains": list(entities),
            "payload": {name: {"entity": entity} for name, entity in entities.items()},
            "created_at": 1567686996,
        }
    ).encode()


INVOICE = {
    "id": "inv_DEWHZlfIcdVIXL",
    "entity": "invoice",
    "status": "paid",
    "amount": 479030,
    "notes": {"togai_invoice_id": "tg.inv.1", "togai_account_id": "acc.1"},
}
PAYMENT = {
    "id": "pay_DEWHsM9ByjCjYS",
    "entity": "payment",
    "amount": 479030,
    "currency": "INR",
    "invoice_id": "inv_DEWHZlfIcdVIXL",
    "notes": [],
}
ORDER = {"id": "order_DEWHZoU57pgISd", "entity": "order", "amount": 479030, "notes": []}
# fmt: skip


async def test_invoice_paid_carries_every_entity_and_orders_by_togai_account() -> None:
    headers = {"X-Razorpay-Event-Id": "evt_1", "X-Razorpay-Signature": "x"}
    body = _envelope("invoice.paid", payment=PAYMENT, order=ORDER, invoice=INVOICE)
    [event] = await parse_webhook(None, headers, body)
    assert event.trigger == "invoice.paid"
    assert event.event_type == "invoice.paid"
    # Keyed on the signed body, never on the unsigned event id header.
    assert event.external_id == "invoice.paid:pay_DEWHsM9ByjCjYS"
    assert event.entity_key == "togai-account:acc.1"
    assert event.payload == {
        "event": "invoice.paid",
        "account_id": "acc_BFQ7uQEaa7j2z7",
        "payment": PAYMENT,
        "order": ORDER,
        "invoice": INVOICE,
    }
    assert event.occurred_at == datetime.fromtimestamp(1567686996, UTC)
    # The payload validates against the trigger's declared model.
    model = APP.trigger("invoice.paid").payload_model
    assert model is not None
    assert model.model_validate(event.payload).invoice.id == INVOICE["id"]  # type: ignore[attr-defined]


async def test_a_payment_event_is_keyed_on_its_payment_whatever_the_event_id_header() -> None:
    body = _envelope("payment.captured", payment=PAYMENT)
    keys = {
        (await parse_webhook(None, headers, body))[0].external_id
        for headers in ({}, {"X-Razorpay-Event-Id": "evt_A"}, {"X-Razorpay-Event-Id": "evt_B"})
    }
    assert keys == {"payment.captured:pay_DEWHsM9ByjCjYS"}
    [event] = await parse_webhook(None, {}, body)
    assert event.entity_key == "razorpay-payment:pay_DEWHsM9ByjCjYS"


async def test_refund_is_keyed_on_the_refund() -> None:
    refund = {"id": "rfnd_1", "entity": "refund", "amount": 100, "payment_id": PAYMENT["id"]}
    [event] = await parse_webhook(
        None, {}, _envelope("refund.processed", refund=refund, payment=PAYMENT)
    )
    assert event.trigger == "refund.processed"
    assert event.entity_key == "razorpay-refund:rfnd_1"
    assert event.external_id == "refund.processed:rfnd_1"


async def test_payment_link_notes_give_the_account() -> None:
    link = {"id": "plink_1", "amount": 100, "status": "paid",
            "notes": {"togai_account_id": "acc.9"}}  # fmt: skip
    body = _envelope("payment_link.paid", payment_link=link, order=ORDER, payment=PAYMENT)
    [event] = await parse_webhook(None, {"x-razorpay-event-id": "evt_9"}, body)
    assert (event.trigger, event.external_id, event.entity_key) == (
        "payment_link.paid",
        "payment_link.paid:pay_DEWHsM9ByjCjYS",
        "togai-account:acc.9",
    )


async def test_unknown_event_types_are_kept_without_a_trigger() -> None:
    [event] = await parse_webhook(
        None, {"X-Razorpay-Event-Id": "e"}, _envelope("order.paid", order=ORDER, payment=PAYMENT)
    )
    assert event.trigger is None
    assert event.event_type == "order.paid"
    assert event.entity_key == "razorpay-order:order_DEWHZoU57pgISd"
    assert event.external_id == "order.paid:pay_DEWHsM9ByjCjYS"


async def test_an_event_once_per_entity_is_keyed_on_that_entity() -> None:
    [event] = await parse_webhook(None, {}, _envelope("invoice.expired", invoice=INVOICE))
    assert event.external_id == "invoice.expired:inv_DEWHZlfIcdVIXL"


async def test_other_event_types_are_keyed_on_every_entity_and_their_time() -> None:
    sub = {"id": "sub_1", "entity": "subscription"}
    body = _envelope("subscription.charged", subscription=sub, payment=PAYMENT)
    [event] = await parse_webhook(None, {"X-Razorpay-Event-Id": "evt_x"}, body)
    assert event.external_id == (
        "subscription.charged:payment=pay_DEWHsM9ByjCjYS,subscription=sub_1@1567686996"
    )
    # The same kind of event on the same entities at another time is another event.
    later = json.loads(body)
    later["created_at"] += 60
    [again] = await parse_webhook(None, {}, json.dumps(later).encode())
    assert again.external_id != event.external_id


async def test_an_overlong_key_becomes_a_digest_that_fits_the_column() -> None:
    many = {f"entity{i:02d}": {"id": f"id_{i:02d}_" + "x" * 20} for i in range(20)}
    [event] = await parse_webhook(None, {}, _envelope("made.up", **many))
    assert len(event.external_id) <= 255
    assert event.external_id.startswith("made.up:sha256:")


async def test_a_nonsense_created_at_keeps_no_time_instead_of_failing() -> None:
    body = json.loads(_envelope("payment.captured", payment=PAYMENT))
    body["created_at"] = 10**30
    [event] = await parse_webhook(None, {}, json.dumps(body).encode())
    assert event.occurred_at is None


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"payload": {}}'])
async def test_malformed_bodies_are_rejected(body: bytes) -> None:
    with pytest.raises(errors.RejectedError):
        await parse_webhook(None, {}, body)


def test_every_catalogue_trigger_is_declared() -> None:
    assert {t.key for t in APP.triggers} == {
        "invoice.paid",
        "invoice.partially_paid",
        "invoice.expired",
        "payment.captured",
        "payment_link.paid",
        "refund.processed",
    }
    assert all(t.webhook and t.payload_model for t in APP.triggers)
    # The payment triggers are also served by the catch-up walk of the payment list.
    assert {t.key for t in APP.triggers if t.polling} == {
        "invoice.paid",
        "invoice.partially_paid",
        "payment.captured",
        "payment_link.paid",
    }
    assert APP.catch_up is not None
    assert APP.catch_up.triggers == {t.key for t in APP.triggers if t.polling}
