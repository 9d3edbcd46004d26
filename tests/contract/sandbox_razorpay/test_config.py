"""The switches for UNCONFIRMED behaviour, exercised in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from billsync.sandbox.razorpay import RazorpaySandboxConfig, create_app

AUTH = ("rzp_test_sandbox", "sandbox_secret")


@asynccontextmanager
async def sandbox(config: RazorpaySandboxConfig) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(config)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://razorpay.test", auth=AUTH
    ) as http:
        yield http
    await app.aclose()


def _invoice(customer_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "invoice",
        "customer_id": customer_id,
        "line_items": [{"name": "Plan", "amount": 1000}],
    } | extra


async def _customer(http: httpx.AsyncClient) -> str:
    response = await http.post("/v1/customers", json={"name": "Config Test"})
    return str(response.json()["id"])


async def test_receipt_uniqueness_is_off_by_default_and_can_be_enforced() -> None:
    async with sandbox(RazorpaySandboxConfig()) as http:
        cid = await _customer(http)
        for _ in range(2):
            ok = await http.post("/v1/invoices", json=_invoice(cid, receipt="R-1"))
            assert ok.status_code == 200
    async with sandbox(RazorpaySandboxConfig(unique_invoice_receipt=True)) as http:
        cid = await _customer(http)
        assert (await http.post("/v1/invoices", json=_invoice(cid, receipt="R-1"))).is_success
        again = await http.post("/v1/invoices", json=_invoice(cid, receipt="R-1"))
        assert again.status_code == 400
        assert again.json()["error"]["field"] == "receipt"


async def test_international_is_off_by_default_as_on_a_new_account() -> None:
    usd = _invoice(
        "", currency="USD", line_items=[{"name": "Plan", "amount": 1000, "currency": "USD"}]
    )
    async with sandbox(RazorpaySandboxConfig()) as http:
        usd["customer_id"] = await _customer(http)
        refused = await http.post("/v1/invoices", json=usd)
        assert refused.status_code == 400
        assert refused.json()["error"]["description"] == (
            "the merchant doesn't have international activated."
        )
        link = await http.post("/v1/payment_links", json={"amount": 1000, "currency": "USD"})
        assert link.status_code == 400
    async with sandbox(RazorpaySandboxConfig(international=True)) as http:
        usd["customer_id"] = await _customer(http)
        assert (await http.post("/v1/invoices", json=usd)).json()["currency"] == "USD"


async def test_minimum_amount_and_customer_edit_fields() -> None:
    config = RazorpaySandboxConfig(min_amount=5000, customer_edit_fields=("name",))
    async with sandbox(config) as http:
        cid = await _customer(http)
        low = await http.post("/v1/invoices", json=_invoice(cid))
        assert low.json()["error"]["description"] == "The amount must be at least INR 50.00"
        refused = await http.put(f"/v1/customers/{cid}", json={"notes": {"a": "b"}})
        assert refused.json()["error"]["description"] == (
            "notes is/are not required and should not be sent"
        )
        renamed = await http.put(f"/v1/customers/{cid}", json={"name": "New Name"})
        assert renamed.json()["name"] == "New Name"


async def test_clock_and_seed_make_runs_reproducible() -> None:
    config = RazorpaySandboxConfig(clock=lambda: 1_700_000_000.0, seed=7)
    ids = []
    for _ in range(2):
        async with sandbox(config) as http:
            created = (await http.post("/v1/customers", json={"name": "Seeded"})).json()
            assert created["created_at"] == 1_700_000_000
            ids.append(created["id"])
    assert ids[0] == ids[1]
