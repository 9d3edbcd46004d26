"""The runner with the real Togai and Razorpay connectors against in-process sandboxes.

Outbound account flow: account.created → razorpay.create_customer → togai.set_account_setting
(the new customer id written back). Connections route to the sandboxes through the runner's
transport hook; nothing leaves the process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from billsync.clock import FakeClock
from billsync.connectors import razorpay, spec, togai
from billsync.domain import IncomingEvent, LinkKind, Side
from billsync.engine.clients import ClientCache
from billsync.engine.dispatch import EmbeddedDispatcher
from billsync.engine.ratelimit import RateLimiters
from billsync.engine.retry import RetryPolicy
from billsync.engine.runner import Runner
from billsync.engine.worker import Worker
from billsync.sandbox.razorpay import RazorpaySandboxConfig
from billsync.sandbox.razorpay import create_app as create_razorpay
from billsync.sandbox.togai import TogaiSandboxConfig
from billsync.sandbox.togai import create_app as create_togai
from billsync.store import connections, events, flows, mappings, runs, steps
from billsync.store.database import Database
from billsync.store.models import Connection
from billsync.store.status import RunStatus
from billsync.store.vault import Vault

RZP = RazorpaySandboxConfig()
TOGAI = TogaiSandboxConfig()


@dataclass
class Sandboxes:
    togai: Any
    razorpay: Any

    def transport_for(self, connection: Connection) -> httpx.AsyncBaseTransport | None:
        app = self.togai if connection.app == "togai" else self.razorpay
        return httpx.ASGITransport(app=app)


@pytest.fixture
async def sandboxes() -> AsyncIterator[Sandboxes]:
    boxes = Sandboxes(create_togai(TOGAI), create_razorpay(RZP))
    try:
        yield boxes
    finally:
        await boxes.togai.aclose()
        await boxes.razorpay.aclose()


async def _togai_account(boxes: Sandboxes, account_id: str) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=boxes.togai)
    headers = {"Authorization": f"Bearer {TOGAI.token}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://togai.test", headers=headers
    ) as http:
        created = await http.post(
            "/customers",
            json={
                "id": account_id,
                "name": "Acme Widgets",
                "primaryEmail": "billing@acme.example",
                "address": {"phoneNumber": "+919999999999", "country": "IN"},
            },
        )
        assert created.status_code == 201, created.text
        account = (await http.get(f"/accounts/{account_id}")).json()
    assert isinstance(account, dict)
    return account


async def test_account_created_makes_one_razorpay_customer(
    db: Database, clock: FakeClock, vault: Vault, sandboxes: Sandboxes
) -> None:
    registry = spec.Registry((togai.APP, razorpay.APP))
    async with db.write() as session:
        tg = await connections.create(
            session,
            vault,
            app="togai",
            name="togai",
            now=clock.now(),
            secrets={"api_token": TOGAI.token},
            options={"base_url": "http://togai.test"},
        )
        rp = await connections.create(
            session,
            vault,
            app="razorpay",
            name="razorpay",
            now=clock.now(),
            secrets={"key_secret": RZP.key_secret},
            options={"key_id": RZP.key_id, "base_url": "http://razorpay.test"},
        )
        flow = await flows.create(
            session,
            name="accounts",
            enabled=True,
            now=clock.now(),
            definition={
                "name": "accounts",
                "direction": "outbound",
                "trigger": {"connection_id": str(tg.id), "trigger": "account.created"},
                "steps": [
                    {"id": "customer", "connection_id": str(rp.id), "action": "create_customer"},
                    {
                        "id": "writeback",
                        "connection_id": str(tg.id),
                        "action": "set_account_setting",
                        "input": {"value": "steps.customer.customer_id"},
                    },
                ],
            },
        )

    account = await _togai_account(sandboxes, "acct_1")
    run_ids = []
    # The same account announced twice (e.g. a webhook and a replayed delivery with a new id).
    for external_id in ("account:acct_1:created", "account:acct_1:created:again"):
        incoming = IncomingEvent(
            trigger="account.created",
            event_type="account.created",
            external_id=external_id,
            entity_key="togai-account:acct_1",
            payload={"account": account},
        )
        async with db.write() as session:
            event = await events.insert(session, tg.id, incoming, now=clock.now())
            assert event is not None
            run = await runs.create(
                session,
                flow_id=flow.id,
                flow_version=1,
                event_id=event.id,
                entity_key=incoming.entity_key,
                now=clock.now(),
            )
            assert run is not None
            run_ids.append(run.id)

    runner = Runner(
        db,
        registry,
        ClientCache(registry, vault, transport_for=sandboxes.transport_for),
        clock=clock,
        policy=RetryPolicy(max_attempts=3),
        limiters=RateLimiters(),
    )
    dispatcher = EmbeddedDispatcher()
    try:
        async with Worker(db, runner, dispatcher, clock=clock, poll_seconds=0.05) as worker:
            async with asyncio.timeout(30):
                await worker.run_until_idle()
    finally:
        await runner.aclose()

    async with db.read() as session:
        for run_id in run_ids:
            row = await runs.get(session, run_id)
            assert row is not None
            assert row.status == RunStatus.SUCCEEDED, row.last_error
        first = await steps.for_run(session, run_ids[0])
        second = await steps.for_run(session, run_ids[1])
        customer_id = await mappings.find(session, LinkKind.ACCOUNT_CUSTOMER, Side.TOGAI, "acct_1")
    assert first[0].output is not None and first[0].output["source"] == "created"
    assert first[0].output["customer_id"] == customer_id
    # The second run found the mapping and created nothing.
    assert second[0].output is not None and second[0].output["source"] == "mapping"
    assert first[1].output is not None and first[1].output["value"] == customer_id

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandboxes.razorpay), base_url="http://razorpay.test"
    ) as http:
        listed = (await http.get("/v1/customers", auth=(RZP.key_id, RZP.key_secret))).json()
    assert [c["id"] for c in listed["items"]] == [customer_id]
