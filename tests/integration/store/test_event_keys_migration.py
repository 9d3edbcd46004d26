"""Migration 0003: Razorpay events stored under X-Razorpay-Event-Id get the key the webhook
and the catch-up poller make today, so neither stores them again after an upgrade."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from billsync.connectors.razorpay.webhook import parse_webhook
from billsync.store.database import Database
from billsync.store.models import Connection, Event

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _connection(app: str, name: str) -> Connection:
    return Connection(
        app=app, name=name, secrets="x", key_id="k", options={}, created_at=NOW, updated_at=NOW
    )


def _envelope(event: str, created_at: int, **entities: dict[str, Any]) -> dict[str, Any]:
    return {
        "entity": "event",
        "account_id": "acc_X",
        "event": event,
        "contains": list(entities),
        "payload": {name: {"entity": entity} for name, entity in entities.items()},
        "created_at": created_at,
    }


async def test_stored_razorpay_events_are_rekeyed_by_content(empty_db: Database) -> None:
    db = empty_db
    await db.migrate("0002")
    payment = {"id": "pay_M1", "amount": 100, "currency": "INR"}
    invoice = {"id": "inv_M1", "status": "paid", "notes": []}
    sub = {"id": "sub_M1"}
    # (envelope, old external id): the last is a replay of the first under another event id.
    stored = [
        (_envelope("invoice.paid", 1767000000, payment=payment, invoice=invoice), "evt_1"),
        (_envelope("invoice.expired", 1767000100, invoice=invoice), "evt_2"),
        (_envelope("subscription.charged", 1767000200, subscription=sub, payment=payment), "e3"),
        (_envelope("invoice.paid", 1767000000, payment=payment, invoice=invoice), "evt_9"),
    ]
    async with db.write() as session:
        razorpay = _connection("razorpay", "R")
        togai = _connection("togai", "T")
        session.add_all([razorpay, togai])
        await session.flush()
        for envelope, old in stored:
            [parsed] = await parse_webhook(None, {}, json.dumps(envelope).encode())
            session.add(
                Event(
                    connection_id=razorpay.id,
                    trigger=parsed.trigger,
                    event_type=parsed.event_type,
                    external_id=old,
                    entity_key=parsed.entity_key,
                    payload=parsed.payload,
                    status="processed",
                    occurred_at=parsed.occurred_at,
                    received_at=NOW,
                )
            )
        # A Togai event is left alone whatever it looks like.
        session.add(
            Event(
                connection_id=togai.id,
                trigger="invoice.paid",
                event_type="invoice.paid",
                external_id="invoice:x:DUE",
                entity_key="k",
                payload={"payment": payment},
                status="processed",
                received_at=NOW,
            )
        )
    await db.migrate()
    async with db.read() as session:
        rows = (await session.execute(sa.select(Event).order_by(Event.id))).scalars().all()
    expected = [
        (await parse_webhook(None, {}, json.dumps(envelope).encode()))[0].external_id
        for envelope, _ in stored[:3]
    ]
    assert expected == [
        "invoice.paid:pay_M1",
        "invoice.expired:inv_M1",
        "subscription.charged:payment=pay_M1,subscription=sub_M1@1767000200",
    ]
    # The replay stored twice keeps its old key (the new one is taken by the first).
    assert [r.external_id for r in rows] == [*expected, "evt_9", "invoice:x:DUE"]
