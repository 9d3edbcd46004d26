"""Automatic expiry after expire_by, driven by a fake clock, in-process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import razorpay

from billsync.sandbox.razorpay import RazorpaySandboxConfig, create_app
from tests.contract.sandbox_razorpay.conftest import Listener
from tests.servers import serve

AUTH = ("rzp_test_sandbox", "sandbox_secret")
START = 1_800_000_000


@dataclass
class FakeClock:
    now: float = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def api(clock: FakeClock, served_listener: Listener) -> AsyncIterator[httpx.AsyncClient]:
    served_listener.received.clear()
    config = RazorpaySandboxConfig(
        clock=clock, webhook_urls=(served_listener.url,), expiry_delay_s=120
    )
    app = create_app(config)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://razorpay.test", auth=AUTH
    ) as http:
        yield http
    await app.aclose()


async def test_issued_invoice_expires_after_expire_by_and_the_delay(
    api: httpx.AsyncClient, clock: FakeClock, served_listener: Listener
) -> None:
    customer = (await api.post("/v1/customers", json={"name": "Expiring"})).json()
    body = {
        "type": "invoice",
        "customer_id": customer["id"],
        "line_items": [{"name": "Plan", "amount": 1000}],
        "expire_by": START + 1800,
    }
    invoice = (await api.post("/v1/invoices", json=body)).json()
    paid_one = (await api.post("/v1/invoices", json=body)).json()
    await api.post(f"/_sandbox/invoices/{paid_one['id']}/pay", json={})

    clock.now = START + 1800 + 60  # past expire_by, within the delay
    assert (await api.get(f"/v1/invoices/{invoice['id']}")).json()["status"] == "issued"

    clock.now = START + 1800 + 120
    expired = (await api.get(f"/v1/invoices/{invoice['id']}")).json()
    assert (expired["status"], expired["expired_at"]) == ("expired", START + 1920)
    assert (await api.get(f"/v1/invoices/{paid_one['id']}")).json()["status"] == "paid"
    # The dispatcher runs on this test's loop: yield to it instead of blocking.
    for _ in range(500):
        if "invoice.expired" in served_listener.events():
            break
        await asyncio.sleep(0.02)
    assert served_listener.events().count("invoice.expired") == 1


async def test_payment_link_expiry_follows_an_edited_expire_by(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    link = (
        await api.post("/v1/payment_links", json={"amount": 1000, "expire_by": START + 1800})
    ).json()
    await api.patch(f"/v1/payment_links/{link['id']}", json={"expire_by": START + 7200})

    clock.now = START + 3600
    assert (await api.get(f"/v1/payment_links/{link['id']}")).json()["status"] == "created"
    clock.now = START + 7200 + 120
    expired = (await api.get(f"/v1/payment_links/{link['id']}")).json()
    assert (expired["status"], expired["expired_at"]) == ("expired", START + 7320)


def test_link_without_expire_by_expires_after_six_months_with_a_webhook(
    clock: FakeClock, served_listener: Listener
) -> None:
    """Over a real socket with the SDK: the default expiry is applied like any other."""
    served_listener.received.clear()
    config = RazorpaySandboxConfig(clock=clock, webhook_urls=(served_listener.url,))
    with serve(create_app(config)) as url:
        client = razorpay.Client(auth=AUTH, base_url=url)
        link = client.payment_link.create({"amount": 1000, "reference_id": "no-expiry-given"})
        assert link["expire_by"] == START + 180 * 24 * 3600

        clock.now = link["expire_by"] - 1
        assert client.payment_link.fetch(link["id"])["status"] == "created"
        clock.now = link["expire_by"]
        expired = client.payment_link.fetch(link["id"])
        assert (expired["status"], expired["expired_at"]) == ("expired", link["expire_by"])
        served_listener.wait_for(
            lambda got: any(r.event["event"] == "payment_link.expired" for r in got)
        )
    events = [r.event for r in served_listener.received]
    assert [e["event"] for e in events] == ["payment_link.expired"]
    assert events[0]["payload"]["payment_link"]["entity"]["id"] == link["id"]
