"""The sandbox in-process under httpx.ASGITransport: no socket, no lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from billsync.sandbox.common.assembly import SandboxApp
from billsync.sandbox.togai import TogaiSandboxConfig, create_app
from tests.servers import serve

AUTH = {"Authorization": "Bearer togai_sandbox_token"}
CUSTOMER = {"id": "ACME", "name": "ACME", "primaryEmail": "a@b.c", "address": {}}


@pytest.fixture
async def app() -> AsyncIterator[SandboxApp]:
    sandbox = create_app(TogaiSandboxConfig(seed=9, webhook_base_delay=0.02))
    yield sandbox
    await sandbox.aclose()


async def test_api_works_in_process(app: SandboxApp) -> None:
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://togai", headers=AUTH) as c:
        assert (await c.post("/customers", json=CUSTOMER)).status_code == 201
        invoice = (
            await c.post("/_sandbox/invoices", json={"accountId": "ACME", "totalAmount": 881.94})
        ).json()
        assert (
            invoice["status"] == "DRAFT"
            and invoice["invoiceDetails"]["account"]["invoiceCurrency"] == "INR"
        )
        listed = (await c.get("/invoices", params={"owner_id": "ACME"})).json()
        assert [i["id"] for i in listed["data"]] == [invoice["id"]]
        stats = (await c.get("/_sandbox/stats")).json()
        assert stats["objects"]["invoices"] == 1 and stats["objects"]["accounts"] == 1


async def test_lost_response_in_process_raises_like_a_hang_up(app: SandboxApp) -> None:
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://togai", headers=AUTH) as c:
        await c.post("/_sandbox/faults", json={"lost_response_rate": 1.0})
        with pytest.raises(httpx.RemoteProtocolError):
            await c.post("/customers", json=CUSTOMER)
        await c.delete("/_sandbox/faults")
        assert (await c.get("/customers/ACME")).status_code == 200


async def test_webhooks_are_delivered_from_in_process(app: SandboxApp) -> None:
    received: list[dict[str, object]] = []

    async def hook(request: Request) -> Response:
        received.append(await request.json())
        return Response(status_code=200)

    with serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as url:
        app.dispatcher.add_target(f"{url}/hook")
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=AUTH) as c:
            assert (await c.post("/customers", json=CUSTOMER)).status_code == 201
        assert await app.dispatcher.wait_idle(10)
    assert [e["type"] for e in received] == ["account.created"]
