"""preview() with the real connectors against both in-process sandboxes: reads only."""

from __future__ import annotations

from typing import Any

import httpx

from billsync.connectors import catalogue, razorpay, spec, togai
from billsync.engine import preview, templates
from billsync.engine.flow import StepDef
from billsync.sandbox.razorpay import RazorpaySandboxConfig
from billsync.sandbox.razorpay import create_app as razorpay_app
from billsync.sandbox.togai import TogaiSandboxConfig
from billsync.sandbox.togai import create_app as togai_app
from tests.unit.engine import fake_apps

BIND = {"togai": "tg", "razorpay": "rp"}
TOGAI_CONFIG = TogaiSandboxConfig()
RAZORPAY_CONFIG = RazorpaySandboxConfig()


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes requests to the sandbox and remembers (method, path) of each."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.seen: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path))
        return await self.inner.handle_async_request(request)


EVENT: dict[str, Any] = {
    "invoice": {
        "id": "inv.preview.1",
        "ownerId": "acc.preview.1",
        "sequenceId": "2026-11-0001",
        "status": "DUE",
        "totalAmount": 881.94,
        "paidAmount": 0,
    },
    "account": {
        "id": "acc.preview.1",
        "name": "Preview Account",
        "invoiceCurrency": "INR",
        "primaryEmail": "preview@example.com",
        "address": {"phoneNumber": "+919876543210"},
    },
}


async def test_invoice_flow_preview_sends_no_writes_to_either_app() -> None:
    togai_wire = RecordingTransport(httpx.ASGITransport(togai_app(TOGAI_CONFIG)))
    razorpay_wire = RecordingTransport(httpx.ASGITransport(razorpay_app(RAZORPAY_CONFIG)))
    clients = {
        "tg": togai.APP.make_client(
            {"api_token": TOGAI_CONFIG.token, "base_url": "http://togai.sandbox"},
            transport=togai_wire,
        ),
        "rp": razorpay.APP.make_client(
            {
                "key_id": RAZORPAY_CONFIG.key_id,
                "key_secret": RAZORPAY_CONFIG.key_secret,
                "base_url": "http://razorpay.sandbox",
            },
            transport=razorpay_wire,
        ),
    }

    def make(step: StepDef, index: int) -> spec.ActionContext:
        return spec.ActionContext(
            client=clients[step.connection_id],
            options={},
            ids=fake_apps.NoIds(),
            idempotency_key=f"preview:{index}",
        )

    registry = catalogue.default_registry()
    defn = templates.instantiate("togai-invoice-to-razorpay-invoice", BIND)
    try:
        result = await preview.preview(
            defn, registry, EVENT, make, connections=fake_apps.CONNECTIONS
        )
    finally:
        for client in clients.values():
            await client.aclose()

    assert [s.status for s in result.steps] == [preview.StepStatus.OK] * 4, result.steps
    invoice = result.steps[2]
    assert invoice.input is not None
    assert invoice.input["total_amount"] == "881.94"
    assert invoice.output is not None and invoice.output["amount"] == 88194
    writes = [
        call
        for call in togai_wire.seen + razorpay_wire.seen
        if call[0] not in {"GET", "HEAD", "OPTIONS"}
    ]
    assert writes == []
    # The reads did go out: the receipt lookup and the current settings.
    assert ("GET", "/v1/invoices") in razorpay_wire.seen
    assert sum(method == "GET" for method, _ in togai_wire.seen) == 2
