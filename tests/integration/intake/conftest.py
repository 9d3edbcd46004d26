"""An App on the migrated test database, its connections routed to in-process sandboxes."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from billsync.api.server import create_api
from billsync.app import App, build
from billsync.app import connections as connection_ops
from billsync.app import flows as flow_ops
from billsync.config import Settings
from billsync.sandbox import razorpay as razorpay_sandbox
from billsync.sandbox import togai as togai_sandbox
from billsync.store.database import Database
from billsync.store.models import Connection
from billsync.store.vault import Vault

WEBHOOK_SECRET = "intake-test-webhook-secret"
TOGAI_TOKEN = "togai_sandbox_token"


@dataclass
class Env:
    app: App
    http: httpx.AsyncClient  #: billsync's API, in-process (no lifespan: no worker/poller)
    togai: Any  #: the Togai sandbox ASGI app
    togai_http: httpx.AsyncClient
    togai_id: int
    razorpay_id: int
    togai_hook: str  #: path of the Togai webhook URL (with its token)
    razorpay: Any = None  #: the Razorpay sandbox ASGI app (no webhook targets)
    razorpay_http: httpx.AsyncClient | None = None  #: its API (Basic auth) and control plane

    async def new_account(self, account_id: str) -> None:
        r = await self.togai_http.post(
            "/customers",
            json={
                "id": account_id,
                "name": f"Customer {account_id}",
                "primaryEmail": f"{account_id}@example.com",
                "address": {"line1": "1 MG Road", "city": "Bengaluru", "country": "IN"},
            },
        )
        assert r.status_code in (200, 201), r.text

    async def razorpay_post(
        self, envelope: dict[str, Any] | bytes, *, event_id: str | None, secret: str | None
    ) -> httpx.Response:
        body = envelope if isinstance(envelope, bytes) else json.dumps(envelope).encode()
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Razorpay-Signature"] = sign(body, secret)
        if event_id is not None:
            headers["X-Razorpay-Event-Id"] = event_id
        return await self.http.post(
            f"/webhooks/razorpay/{self.razorpay_id}", content=body, headers=headers
        )


#: The scrape-only token of /metrics in these tests.
METRICS_TOKEN = "intake-metrics-token"
METRICS_AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def invoice_paid(
    togai_invoice_id: str | None = "inv.1", event: str = "invoice.paid"
) -> dict[str, Any]:
    notes: Any = {"togai_invoice_id": togai_invoice_id, "togai_account_id": "acc-1"}
    if togai_invoice_id is None:
        notes = []
    return {
        "entity": "event",
        "account_id": "acc_SandboxAcct0001",
        "event": event,
        "contains": ["payment", "order", "invoice"],
        "payload": {
            "payment": {"entity": {"id": "pay_A1", "amount": 10000, "currency": "INR"}},
            "order": {"entity": {"id": "order_A1"}},
            "invoice": {"entity": {"id": "inv_R1", "notes": notes, "status": "paid"}},
        },
        "created_at": 1767000000,
    }


@pytest.fixture
async def env(db: Database) -> AsyncIterator[Env]:
    togai_app = togai_sandbox.create_app(togai_sandbox.TogaiSandboxConfig(seed=3))
    razorpay_app = razorpay_sandbox.create_app(razorpay_sandbox.RazorpaySandboxConfig(seed=3))

    def transport_for(connection: Connection) -> httpx.AsyncBaseTransport:
        target = togai_app if connection.app == "togai" else razorpay_app
        return httpx.ASGITransport(app=target)

    settings = Settings(
        database_url=db.url,
        secret_keys=SecretStr(Vault.generate_key()),
        public_url="http://billsync.test",
        metrics_token=SecretStr(METRICS_TOKEN),
        metrics_cache_seconds=0,
    )
    app = build(settings, transport_for=transport_for)
    togai = await connection_ops.create(
        app,
        app_name="togai",
        name="Togai",
        # These tests look at what a first poll reports, so they ask for the backfill.
        values={
            "api_token": TOGAI_TOKEN,
            "base_url": "https://togai.test",
            "poll_start": "backfill",
        },
    )
    razorpay = await connection_ops.create(
        app,
        app_name="razorpay",
        name="Razorpay",
        values={
            "key_id": "rzp_test_sandbox",
            "key_secret": "sandbox_secret",
            "webhook_secret": WEBHOOK_SECRET,
            "base_url": "https://razorpay.test",
        },
    )
    await flow_ops.ensure_templates(app, {"togai": togai.id, "razorpay": razorpay.id})
    api = create_api(app)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://b.test") as http,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=togai_app),
            base_url="http://togai.test",
            headers={"Authorization": f"Bearer {TOGAI_TOKEN}"},
        ) as togai_http,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=razorpay_app),
            base_url="http://razorpay.test",
            auth=("rzp_test_sandbox", "sandbox_secret"),
        ) as razorpay_http,
    ):
        yield Env(
            app=app,
            http=http,
            togai=togai_app,
            togai_http=togai_http,
            togai_id=togai.id,
            razorpay_id=razorpay.id,
            togai_hook=togai.webhook_url.removeprefix("http://billsync.test"),
            razorpay=razorpay_app,
            razorpay_http=razorpay_http,
        )
    await app.stop()
    await togai_app.aclose()
    await razorpay_app.aclose()
