"""The same sandbox in-process, through httpx.ASGITransport (no socket)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from billsync.sandbox.razorpay import RazorpaySandboxConfig, create_app

AUTH = ("rzp_test_sandbox", "sandbox_secret")


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(RazorpaySandboxConfig())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://razorpay.test") as http:
        yield http
    await app.aclose()


async def test_create_pay_and_fetch(api: httpx.AsyncClient) -> None:
    customer = (
        await api.post(
            "/v1/customers", json={"name": "In Process", "email": "ip@example.com"}, auth=AUTH
        )
    ).json()
    created = await api.post(
        "/v1/invoices",
        json={
            "type": "invoice",
            "customer_id": customer["id"],
            "line_items": [{"name": "Plan", "amount": 2500}],
        },
        auth=AUTH,
    )
    assert created.status_code == 200
    invoice = created.json()

    paid = await api.post(f"/_sandbox/invoices/{invoice['id']}/pay", json={})
    assert paid.json()["invoice"]["status"] == "paid"

    fetched = (await api.get(f"/v1/invoices/{invoice['id']}", auth=AUTH)).json()
    assert (fetched["status"], fetched["amount_paid"]) == ("paid", 2500)
    stats = (await api.get("/_sandbox/stats")).json()
    assert stats["objects"]["payment"] == 1
    assert stats["requests"]["POST /v1/invoices"] == {"200": 1}


async def test_errors_in_process(api: httpx.AsyncClient) -> None:
    unauthorised = await api.get("/v1/customers")
    assert unauthorised.status_code == 401
    missing = await api.get("/v1/customers/cust_AAAAAAAAAAAAAA", auth=AUTH)
    assert (missing.status_code, missing.json()["error"]["description"]) == (
        400,
        "The id provided does not exist",
    )


async def test_lost_response_in_process(api: httpx.AsyncClient) -> None:
    await api.post("/_sandbox/faults", json={"lost_response_rate": 1.0})
    with pytest.raises(httpx.RemoteProtocolError):
        await api.post("/v1/customers", json={"name": "Lost In Process"}, auth=AUTH)
    await api.delete("/_sandbox/faults")
    listed = (await api.get("/v1/customers", auth=AUTH)).json()
    assert [c["name"] for c in listed["items"]] == ["Lost In Process"]


async def test_reset_clears_everything(api: httpx.AsyncClient) -> None:
    await api.post("/v1/customers", json={"name": "Gone Soon"}, auth=AUTH)
    assert (await api.post("/_sandbox/reset")).json() == {"reset": True}
    listed = (await api.get("/v1/customers", auth=AUTH)).json()
    assert listed == {"entity": "collection", "count": 0, "items": []}
