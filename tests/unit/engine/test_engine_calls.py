"""Provider calls counted by purpose in the client's transport."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client import REGISTRY

from billsync.engine import calls
from billsync.engine.clients import PacedTransport


def _count(app: str, purpose: str) -> float:
    labels = {"app": app, "purpose": purpose}
    return REGISTRY.get_sample_value("billsync_provider_calls_total", labels) or 0.0


async def test_each_request_is_counted_once_under_its_purpose() -> None:
    app = "count-test"
    transport = PacedTransport(httpx.MockTransport(lambda r: httpx.Response(200)), None, app)
    async with httpx.AsyncClient(transport=transport, base_url="http://x.test") as client:
        await client.get("/unlabelled")
        with calls.purpose("refetch"):
            await client.get("/a")
            # Tasks started inside the block inherit its purpose.
            await asyncio.gather(client.get("/b"), client.get("/c"))
        with calls.purpose("poll"):
            await client.get("/page")
        with calls.purpose("action"):
            await client.get("/lookup")
            await client.post("/create")
            await client.patch("/update")
    assert _count(app, "other") == 1
    assert _count(app, "refetch") == 3
    assert _count(app, "poll") == 1
    assert _count(app, "lookup") == 1
    assert _count(app, "write") == 2
    assert _count(app, "action") == 0  # a block's purpose, never a label
