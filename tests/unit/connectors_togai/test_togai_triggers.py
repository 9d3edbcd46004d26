"""Togai webhooks (re-fetched hints) and pollers (cursors) produce the catalogue's events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from billsync import errors
from billsync.connectors.togai import APP
from billsync.connectors.togai.client import TogaiClient
from tests.unit.connectors_togai.togai_fake import TOKEN, FakeTogai


def client(fake: FakeTogai) -> TogaiClient:
    return TogaiClient(TOKEN, base_url="http://togai.test", transport=fake.transport())


async def parse(fake: FakeTogai, body: Any) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await APP.parse_webhook(client(fake), {}, raw)


def seeded() -> FakeTogai:
    fake = FakeTogai()
    fake.add_account(account_id="ACC1")
    fake.add_invoice(invoice_id="inv.1", owner="ACC1", status="DUE")
    fake.add_invoice(invoice_id="inv.2", owner="ACC1", status="VOID")
    fake.add_invoice(invoice_id="inv.3", owner="ACC1", status="DRAFT")
    return fake


async def test_account_created_webhook_refetches_the_account() -> None:
    fake = seeded()
    [event] = await parse(
        fake, {"event": "ACCOUNT_CREATED", "payload": {"id": "ACC1", "name": "x"}}
    )
    assert event.trigger == "account.created"
    assert event.external_id == "account:ACC1:created"
    assert event.entity_key == "togai-account:ACC1"
    assert event.payload == {"account": fake.accounts["ACC1"]}  # not the body's stale copy


@pytest.mark.parametrize(
    "body",
    [
        {"event": "INVOICE_GENERATED", "payload": {"id": "inv.1", "invoiceClass": "INVOICE"}},
        {"eventType": "invoice.generated", "data": {"entityType": "INVOICE", "entityId": "inv.1"}},
        {"type": "Invoice generation", "data": {"invoice": {"id": "inv.1"}}},
        {"event": "INVOICE_UPDATED", "entity_type": "invoice", "entity_id": "inv.1"},
    ],
)
async def test_invoice_generated_webhook_envelopes(body: dict[str, Any]) -> None:
    fake = seeded()
    [event] = await parse(fake, body)
    assert event.trigger == "invoice.generated"
    assert event.external_id == "invoice:inv.1:DUE"
    assert event.entity_key == "togai-account:ACC1"
    assert event.payload == {"invoice": fake.invoices["inv.1"], "account": fake.accounts["ACC1"]}


async def test_refetched_status_decides_void_and_draft() -> None:
    fake = seeded()
    [voided] = await parse(fake, {"event": "INVOICE_UPDATED", "payload": {"id": "inv.2"}})
    assert (voided.trigger, voided.external_id) == ("invoice.voided", "invoice:inv.2:VOID")
    [draft] = await parse(fake, {"event": "INVOICE_GENERATED", "payload": {"id": "inv.3"}})
    assert draft.trigger is None


@pytest.mark.parametrize(
    ("status", "trigger"),
    [("VOID", None), ("PAID", None), ("DRAFT", None), ("PARTIALLY_PAID", "invoice.generated")],
)
async def test_a_late_generated_hint_fires_only_while_something_is_due(
    status: str, trigger: str | None
) -> None:
    fake = seeded()
    fake.invoices["inv.1"]["status"] = status
    [event] = await parse(fake, {"event": "INVOICE_GENERATED", "payload": {"id": "inv.1"}})
    assert event.trigger == trigger


async def test_unknown_types_are_kept_without_a_trigger_and_without_api_calls() -> None:
    fake = seeded()
    body = {"event": "PRICE_PLAN_CREATED", "payload": {"id": "pp.1"}}
    [event] = await parse(fake, body)
    [again] = await parse(fake, body)
    assert event.trigger is None and event.event_type == "PRICE_PLAN_CREATED"
    assert event.external_id == again.external_id  # redelivery dedupes
    assert fake.requests == []


async def test_a_hint_naming_nothing_yields_no_event() -> None:
    assert await parse(seeded(), {"event": "ACCOUNT_CREATED", "payload": {"id": "NOPE"}}) == []


async def test_malformed_bodies_are_rejected() -> None:
    with pytest.raises(errors.RejectedError):
        await parse(seeded(), b"<html>")
    with pytest.raises(errors.RejectedError):
        await parse(seeded(), [1, 2])


async def test_account_poller_reports_each_account_once() -> None:
    fake = FakeTogai(page_size=2)
    for n in range(3):
        fake.add_account(account_id=f"ACC{n}")
    poll = APP.poll["account.created"]
    events, cursor = await poll(client(fake), None)
    assert [e.external_id for e in events] == [f"account:ACC{n}:created" for n in range(3)]
    assert cursor == {"seen": ["ACC0", "ACC1", "ACC2"]}
    fake.add_account(account_id="ACC9")
    events, cursor = await poll(client(fake), json.loads(json.dumps(cursor)))
    assert [e.external_id for e in events] == ["account:ACC9:created"]
    assert events[0].payload == {"account": fake.accounts["ACC9"]}


async def test_generated_poller_cursor_tracks_current_due_invoices() -> None:
    fake = seeded()
    poll = APP.poll["invoice.generated"]
    events, cursor = await poll(client(fake), None)
    assert [e.external_id for e in events] == ["invoice:inv.1:DUE"]
    assert cursor == {"due": ["inv.1"]}
    fake.invoices["inv.1"]["status"] = "PAID"
    fake.invoices["inv.3"]["status"] = "DUE"
    events, cursor = await poll(client(fake), cursor)
    assert [e.external_id for e in events] == ["invoice:inv.3:DUE"]
    assert cursor == {"due": ["inv.3"]}
    assert (await poll(client(fake), cursor))[0] == []


async def test_voided_poller_uses_an_updated_at_watermark() -> None:
    fake = seeded()
    poll = APP.poll["invoice.voided"]
    events, cursor = await poll(client(fake), None)
    assert [e.external_id for e in events] == ["invoice:inv.2:VOID"]
    assert cursor == {"since": "2024-08-04T12:00:00+00:00", "ids": ["inv.2"]}
    assert (await poll(client(fake), cursor))[0] == []
    fake.invoices["inv.1"].update(status="VOID", updatedAt="2024-09-01T00:00:00Z")
    events, cursor = await poll(client(fake), cursor)
    assert [e.external_id for e in events] == ["invoice:inv.1:VOID"]
    assert cursor["ids"] == ["inv.1"]


async def test_webhook_and_poll_agree_on_the_external_id_and_payload() -> None:
    fake = seeded()
    [hooked] = await parse(fake, {"event": "INVOICE_GENERATED", "payload": {"id": "inv.1"}})
    [polled], _ = await APP.poll["invoice.generated"](client(fake), None)
    assert hooked.external_id == polled.external_id
    assert hooked.payload == polled.payload
    assert hooked.entity_key == polled.entity_key


def test_app_declares_the_three_triggers_with_pollers_and_no_signature() -> None:
    keys = [t.key for t in APP.triggers]
    assert keys == ["account.created", "invoice.generated", "invoice.voided"]
    assert set(APP.poll) == set(keys)
    assert APP.verify_webhook is None
    assert [f.name for f in APP.fields] == [
        "api_token",
        "base_url",
        "payment_mode",
        "poll_start",
        "sandbox",
    ]
    assert APP.fields[0].secret


async def test_sandbox_envelope_and_unknown_changes_keyed_by_delivery_id() -> None:
    fake = seeded()
    fake.invoices["inv.1"]["status"] = "PARTIALLY_PAID"
    body = {
        "id": "evt.abc.1",
        "type": "invoice.updated",
        "createdAt": "2024-08-05T10:00:00Z",
        "data": {"entityType": "INVOICE", "entityId": "inv.1", "status": "PARTIALLY_PAID"},
    }
    [event] = await parse(fake, body)
    assert event.trigger is None
    assert event.external_id == "togai:invoice.updated:evt.abc.1"
    assert event.occurred_at is not None and event.occurred_at.year == 2024
    raw = json.dumps({"event": "X"}).encode()
    [hinted] = await APP.parse_webhook(client(fake), {"X-Togai-Event-Id": "evt.h"}, raw)
    assert hinted.external_id == "togai:X:evt.h"


async def test_pollers_skip_the_fetch_of_entities_the_inbox_already_holds() -> None:
    fake = seeded()
    fake.add_account(account_id="ACC2")
    fake.add_invoice(invoice_id="inv.4", owner="ACC2", status="DUE")
    asked: list[list[str]] = []

    async def known(external_ids: Any) -> set[str]:
        asked.append(list(external_ids))
        return {"account:ACC1:created", "invoice:inv.1:DUE", "invoice:inv.2:VOID"}

    def entity_gets() -> list[str]:
        return [
            r.url.path for r in fake.requests if r.method == "GET" and r.url.path.count("/") > 1
        ]

    events, cursor = await APP.poll["account.created"](client(fake), None, known)
    assert [e.external_id for e in events] == ["account:ACC2:created"]
    assert cursor == {"seen": ["ACC1", "ACC2"]}  # a known account still advances the cursor
    assert asked[-1] == ["account:ACC1:created", "account:ACC2:created"]
    assert entity_gets() == ["/accounts/ACC2"]

    fake.requests.clear()
    events, cursor = await APP.poll["invoice.generated"](client(fake), None, known)
    assert [e.external_id for e in events] == ["invoice:inv.4:DUE"]
    assert cursor == {"due": ["inv.1", "inv.4"]}
    assert entity_gets() == ["/invoices/inv.4", "/accounts/ACC2"]

    fake.requests.clear()
    events, cursor = await APP.poll["invoice.voided"](client(fake), None, known)
    assert events == []
    assert cursor == {"since": "2024-08-04T12:00:00+00:00", "ids": ["inv.2"]}
    assert entity_gets() == []


async def test_invoice_webhook_uses_the_hinted_account_only_when_it_owns_the_invoice() -> None:
    fake = seeded()
    fake.add_account(account_id="ACC2")
    hint = {"entityType": "INVOICE", "entityId": "inv.1", "accountId": "ACC1"}
    [event] = await parse(fake, {"event": "invoice.generated", "payload": hint})
    assert event.payload["account"] == fake.accounts["ACC1"]
    assert sorted(r.url.path for r in fake.requests) == ["/accounts/ACC1", "/invoices/inv.1"]

    fake.requests.clear()
    wrong = {**hint, "accountId": "ACC2"}  # a stale or forged hint: the owner decides
    [event] = await parse(fake, {"event": "invoice.generated", "payload": wrong})
    assert event.payload["account"] == fake.accounts["ACC1"]
    assert event.entity_key == "togai-account:ACC1"
    assert [r.url.path for r in fake.requests][-1] == "/accounts/ACC1"

    fake.requests.clear()
    missing = {**hint, "accountId": "ACC404"}
    [event] = await parse(fake, {"event": "invoice.generated", "payload": missing})
    assert event.payload["account"] == fake.accounts["ACC1"]
