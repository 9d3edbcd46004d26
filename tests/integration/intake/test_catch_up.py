"""Razorpay catch-up: one walk over GET /v1/payments per connection turns captured payments no
webhook delivered into the events the webhook would have made, deduplicated by payment id.

The Razorpay sandbox here has no webhook target (as after Razorpay disabled it), and is
reached in-process; the e2e suite does the same over real sockets."""

from __future__ import annotations

import json
from typing import Any

import httpx

from billsync.app import connection_admin, tokens
from billsync.connectors.razorpay import APP as RAZORPAY
from billsync.connectors.razorpay.poller import CURSOR, OVERLAP_S, PENDING_MAX_AGE_S
from billsync.engine.poller import PollTarget
from billsync.store import connections, cursors, events, runs
from billsync.store.models import Event
from tests.integration.intake.conftest import WEBHOOK_SECRET, Env

PAID_FLOWS = frozenset({"invoice.paid", "invoice.partially_paid"})


def _rzp(env: Env) -> httpx.AsyncClient:
    assert env.razorpay_http is not None
    return env.razorpay_http


async def _invoice(env: Env, n: int, amount: int = 50000, **extra: Any) -> dict[str, Any]:
    """A Razorpay invoice as billsync creates them (notes name the Togai invoice)."""
    http = _rzp(env)
    customer = await http.post(
        "/v1/customers",
        json={"name": f"Customer {n}", "email": f"c{n}@example.com", "contact": f"+9190{n:08d}"},
    )
    assert customer.status_code == 200, customer.text
    invoice = await http.post(
        "/v1/invoices",
        json={
            "type": "invoice",
            "customer_id": customer.json()["id"],
            "line_items": [{"name": "Plan", "amount": amount, "currency": "INR"}],
            "receipt": f"tg-inv-{n}",
            "notes": {"togai_invoice_id": f"tg-inv-{n}", "togai_account_id": f"tg-acc-{n}"},
            **extra,
        },
    )
    assert invoice.status_code == 200, invoice.text
    return dict(invoice.json())


async def _pay(env: Env, invoice_id: str, amount: int | None = None) -> str:
    body = {} if amount is None else {"amount": amount}
    paid = await _rzp(env).post(f"/_sandbox/invoices/{invoice_id}/pay", json=body)
    assert paid.status_code == 200, paid.text
    return str(paid.json()["payment_id"])


async def _requests(env: Env) -> dict[str, int]:
    stats = (await _rzp(env).get("/_sandbox/stats")).json()["requests"]
    return {route: sum(by_status.values()) for route, by_status in stats.items()}


async def _events(env: Env) -> list[Event]:
    async with env.app.db.read() as session:
        found = await events.list_recent(session, limit=1000, connection_id=env.razorpay_id)
    return sorted(found, key=lambda e: e.external_id)


async def _run_count(env: Env) -> int:
    async with env.app.db.read() as session:
        return sum((await runs.count_by_status(session)).values())


async def _webhook(env: Env, event_type: str, payment_id: str, invoice_id: str) -> httpx.Response:
    """What Razorpay's webhook for this payment carries, signed, under a random event id."""
    http = _rzp(env)
    payment = (await http.get(f"/v1/payments/{payment_id}")).json()
    invoice = (await http.get(f"/v1/invoices/{invoice_id}")).json()
    order = (await http.get(f"/v1/orders/{invoice['order_id']}")).json()
    envelope = {
        "entity": "event",
        "account_id": "acc_SandboxAcct0001",
        "event": event_type,
        "contains": ["payment", "order", "invoice"],
        "payload": {
            "payment": {"entity": payment},
            "order": {"entity": order},
            "invoice": {"entity": invoice},
        },
        "created_at": payment["created_at"],
    }
    return await env.razorpay_post(envelope, event_id=f"evt_{payment_id}", secret=WEBHOOK_SECRET)


async def test_the_catch_up_target_serves_every_payment_trigger_flows_listen_to(env: Env) -> None:
    targets = await env.app.poller.targets()
    assert PollTarget(env.razorpay_id, CURSOR, PAID_FLOWS) in targets
    # One walk per connection, not one per trigger.
    assert [t for t in targets if t.connection_id == env.razorpay_id] == [
        PollTarget(env.razorpay_id, CURSOR, PAID_FLOWS)
    ]


async def test_a_payment_no_webhook_delivered_becomes_the_webhooks_event(env: Env) -> None:
    invoice = await _invoice(env, 1)
    payment_id = await _pay(env, invoice["id"])
    report = await env.app.poller.poll_once()
    assert report.failed == 0
    [event] = await _events(env)
    assert (event.trigger, event.external_id, event.entity_key, event.status) == (
        "invoice.paid",
        f"invoice.paid:{payment_id}",
        "togai-account:tg-acc-1",
        "received",
    )
    # The same payload shape as the webhook's, valid for the trigger's model.
    assert set(event.payload) == {"event", "account_id", "payment", "order", "invoice"}
    model = RAZORPAY.trigger("invoice.paid").payload_model
    assert model is not None
    parsed: Any = model.model_validate(event.payload)
    assert (parsed.payment.id, parsed.invoice.id, parsed.order.id) == (
        payment_id,
        invoice["id"],
        invoice["order_id"],
    )
    assert parsed.invoice.notes["togai_invoice_id"] == "tg-inv-1"
    assert await _run_count(env) == 1
    async with env.app.db.read() as session:
        cursor = await cursors.get(session, env.razorpay_id, CURSOR)
    assert cursor is not None and cursor["pending"] == {}
    assert cursor["since"] >= parsed.payment.created_at

    # The overlap lists the payment again: nothing new, and no invoice fetched again.
    before = await _requests(env)
    again = await env.app.poller.poll_once()
    assert (again.stored, again.runs) == (0, 0)
    after = await _requests(env)
    assert after.get("GET /v1/invoices/{id}") == before.get("GET /v1/invoices/{id}")
    assert after["GET /v1/payments"] == before["GET /v1/payments"] + 1

    # A webhook arriving late, under its own event id, collides with the polled event.
    late = await _webhook(env, "invoice.paid", payment_id, invoice["id"])
    assert late.json() == {"stored": 0, "duplicates": 1, "runs": 0}
    assert len(await _events(env)) == 1


async def test_a_payment_the_webhook_delivered_costs_the_poll_nothing(env: Env) -> None:
    invoice = await _invoice(env, 2)
    payment_id = await _pay(env, invoice["id"])
    delivered = await _webhook(env, "invoice.paid", payment_id, invoice["id"])
    assert delivered.json()["stored"] == 1
    before = await _requests(env)
    report = await env.app.poller.poll_once()
    assert (report.stored, report.runs, report.failed) == (0, 0, 0)
    after = await _requests(env)
    # Only the list page: the inbox already holds the payment's event.
    assert {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)} == {
        "GET /v1/payments": 1
    }
    assert await _run_count(env) == 1


async def test_partial_payments_give_the_events_the_webhooks_gave(env: Env) -> None:
    invoice = await _invoice(env, 3, amount=30000, partial_payment=True)
    first = await _pay(env, invoice["id"], 10000)
    second = await _pay(env, invoice["id"], 20000)
    # The invoice is paid now; only its order's payments tell which payment completed it.
    await env.app.poller.poll_once()
    assert [(e.trigger, e.external_id) for e in await _events(env)] == [
        ("invoice.paid", f"invoice.paid:{second}"),
        ("invoice.partially_paid", f"invoice.partially_paid:{first}"),
    ]
    assert await _run_count(env) == 2


async def test_paging_over_more_than_a_hundred_payments(env: Env) -> None:
    paid = []
    for n in range(205):
        invoice = await _invoice(env, 1000 + n, amount=1000)
        paid.append(await _pay(env, invoice["id"]))
    before = await _requests(env)
    report = await env.app.poller.poll_once()
    assert (report.failed, report.stored, report.runs) == (0, 205, 205)
    assert sorted(e.external_id for e in await _events(env)) == sorted(
        f"invoice.paid:{p}" for p in paid
    )
    after = await _requests(env)
    # count=100: pages of 100, 100 and 5.
    assert after["GET /v1/payments"] - before.get("GET /v1/payments", 0) == 3
    # One invoice and one order fetch per payment not seen before; no order payments needed.
    assert after["GET /v1/invoices/{id}"] - before.get("GET /v1/invoices/{id}", 0) == 205
    assert "GET /v1/orders/{id}/payments" not in after
    again = await env.app.poller.poll_once()
    assert (again.stored, again.runs) == (0, 0)
    assert await _run_count(env) == 205


async def test_a_payment_captured_after_its_window_passed_is_still_reported(env: Env) -> None:
    invoice = await _invoice(env, 4)
    payment_id = await _pay(env, invoice["id"])
    state = env.razorpay.state
    payment = state.payments[payment_id]
    # As if it had been authorized only, when the walk listed it.
    payment.update(status="authorized", captured=False)
    await env.app.poller.poll_once()
    assert await _events(env) == []
    async with env.app.db.read() as session:
        cursor = await cursors.get(session, env.razorpay_id, CURSOR)
    assert cursor is not None and list(cursor["pending"]) == [payment_id]
    # Captured later; its creation time is now far behind the cursor's window.
    payment.update(status="captured", captured=True)
    payment["created_at"] -= 10 * OVERLAP_S
    await env.app.poller.poll_once()
    assert [e.external_id for e in await _events(env)] == [f"invoice.paid:{payment_id}"]
    async with env.app.db.read() as session:
        cursor = await cursors.get(session, env.razorpay_id, CURSOR)
    assert cursor is not None and cursor["pending"] == {}


async def test_stale_pending_payments_are_dropped(env: Env) -> None:
    invoice = await _invoice(env, 5)
    payment_id = await _pay(env, invoice["id"])
    payment = env.razorpay.state.payments[payment_id]
    payment.update(status="authorized", captured=False)
    await env.app.poller.poll_once()
    # As if it had been listed, still authorized, more than five days ago.
    async with env.app.db.write() as session:
        cursor = await cursors.get(session, env.razorpay_id, CURSOR)
        assert cursor is not None
        cursor = {**cursor, "pending": {payment_id: cursor["since"] - PENDING_MAX_AGE_S - 60}}
        await cursors.put(session, env.razorpay_id, CURSOR, cursor, now=env.app.clock.now())
    payment["created_at"] -= PENDING_MAX_AGE_S + 10 * OVERLAP_S
    before = await _requests(env)
    await env.app.poller.poll_once()
    async with env.app.db.read() as session:
        cursor = await cursors.get(session, env.razorpay_id, CURSOR)
    assert cursor is not None and cursor["pending"] == {}
    assert (await _requests(env)).get("GET /v1/payments/{id}") == before.get(
        "GET /v1/payments/{id}"
    )


async def test_the_interval_is_a_connection_option(env: Env) -> None:
    poller = env.app.poller
    [target] = [t for t in await poller.targets() if t.connection_id == env.razorpay_id]
    async with env.app.db.read() as session:
        row = await connections.get(session, env.razorpay_id)
    assert row is not None
    assert poller.interval_of(row, target) == 60
    await connection_admin.update(
        env.app, env.razorpay_id, values={"poll_interval": "5"}, actor="test"
    )
    async with env.app.db.read() as session:
        row = await connections.get(session, env.razorpay_id)
    assert row is not None and poller.interval_of(row, target) == 5


async def test_a_bad_interval_is_refused_with_the_field_named(env: Env) -> None:
    headers = await _admin(env)
    for bad in ("soon", "0", "-3", "nan", "1e9"):
        r = await env.http.patch(
            f"/api/v1/connections/{env.razorpay_id}",
            json={"values": {"poll_interval": bad}},
            headers=headers,
        )
        assert r.status_code == 422, (bad, r.text)
        assert "poll_interval" in json.dumps(r.json())


async def _admin(env: Env) -> dict[str, str]:
    _, token = await tokens.create(env.app, "catch-up-test", actor="test")
    return {"Authorization": f"Bearer {token}"}


async def test_each_target_is_polled_on_its_own_interval(env: Env) -> None:
    poller = env.app.poller
    first = await poller.poll_once(only_due=True)
    assert (first.polled, first.failed) == (4, 0)  # three Togai triggers, one Razorpay walk
    # Nothing is due again yet (Togai every 30 s, Razorpay every 60 s).
    assert (await poller.poll_once(only_due=True)).polled == 0
    poller.kick()
    assert (await poller.poll_once(only_due=True)).polled == 4


async def test_the_first_poll_starts_at_the_connections_creation(env: Env) -> None:
    old_invoice, new_invoice = await _invoice(env, 6), await _invoice(env, 7)
    old = await _pay(env, old_invoice["id"])
    new = await _pay(env, new_invoice["id"])
    # A payment from before billsync was connected (beyond the overlap) is not its news.
    env.razorpay.state.payments[old]["created_at"] -= 3 * OVERLAP_S
    await env.app.poller.poll_once()
    assert [e.external_id for e in await _events(env)] == [f"invoice.paid:{new}"]


async def test_a_long_gap_is_walked_a_day_at_a_time(env: Env) -> None:
    invoice = await _invoice(env, 8)
    payment_id = await _pay(env, invoice["id"])
    env.razorpay.state.payments[payment_id]["created_at"] -= 2 * 86_400
    async with env.app.db.write() as session:
        now = int(env.app.clock.now().timestamp())
        since = now - 3 * 86_400 - 60
        await cursors.put(
            session,
            env.razorpay_id,
            CURSOR,
            {"since": since, "pending": {}},
            now=env.app.clock.now(),
        )
    before = await _requests(env)
    await env.app.poller.poll_once()
    # Four windows of at most a day each (one list page apiece), and the cursor reaches now.
    assert (await _requests(env))["GET /v1/payments"] - before.get("GET /v1/payments", 0) == 4
    assert [e.external_id for e in await _events(env)] == [f"invoice.paid:{payment_id}"]
    async with env.app.db.read() as session:
        cursor = await cursors.get(session, env.razorpay_id, CURSOR)
    assert cursor is not None and cursor["since"] >= now
