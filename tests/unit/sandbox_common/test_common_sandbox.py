"""The provider-neutral sandbox pieces, driven through a tiny counter API built on them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from billsync.sandbox.common.assembly import SandboxApp
from billsync.sandbox.common.faults import Faults, FaultSettingsError, TokenBucket
from billsync.sandbox.common.ids import IdGenerator
from billsync.sandbox.common.webhooks import WebhookDispatcher, WebhookTarget
from tests.servers import free_port, serve


def _counter_app(
    faults: Faults | None = None, transport: httpx.AsyncBaseTransport | None = None
) -> tuple[SandboxApp, dict[str, int]]:
    state = {"count": 0}
    faults = faults or Faults()

    def sign(body: bytes, event_id: str, target: WebhookTarget) -> dict[str, str]:
        return {"X-Event-Id": event_id, "X-Secret-Len": str(len(target.secret or ""))}

    dispatcher = WebhookDispatcher(
        faults=faults,
        signer=sign,
        base_delay=0.01,
        max_delay=0.05,
        max_attempts=4,
        transport=transport,
        shuffle_window=0.5,
    )

    async def increment(request: Request) -> JSONResponse:
        state["count"] += 1
        event_id = f"evt_{state['count']}"
        dispatcher.emit("counter.incremented", event_id, json.dumps({"n": state["count"]}).encode())
        return JSONResponse({"count": state["count"]}, status_code=201)

    async def read(request: Request) -> JSONResponse:
        return JSONResponse({"count": state["count"]})

    def reset() -> None:
        state["count"] = 0

    app = SandboxApp(
        [Route("/count", read, methods=["GET"]), Route("/count", increment, methods=["POST"])],
        faults=faults,
        dispatcher=dispatcher,
        render_error=lambda status, message: {"err": message, "status": status},
        objects=lambda: {"count": state["count"]},
        reset=reset,
        state=state,
    )
    return app, state


class _Listener:
    """Records webhook bodies; answers with the queued statuses first, then 200."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.statuses = list(statuses or [])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        body = await request.json()
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            self.bodies.append(body)
            self.headers.append(dict(request.headers))
        await Response(status_code=status)(scope, receive, send)


@pytest.fixture
async def client() -> AsyncIterator[tuple[httpx.AsyncClient, SandboxApp]]:
    app, _ = _counter_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sb") as c:
        yield c, app
    await app.aclose()


def test_ids_are_prefixed_and_seedable() -> None:
    first, second = IdGenerator(seed=7).new("cust_"), IdGenerator(seed=7).new("cust_")
    assert first == second
    assert first.startswith("cust_") and len(first) == 19 and first[5:].isalnum()


def test_fault_settings_validate_and_clear_to_baseline() -> None:
    faults = Faults(latency_ms=5)
    faults.update({"error_rate": 0.5, "error_status": 502, "seed": 3})
    assert faults.active and faults.error_status == 502
    with pytest.raises(FaultSettingsError):
        faults.update({"error_rate": 2})
    with pytest.raises(FaultSettingsError):
        faults.update({"error_status": 404})
    with pytest.raises(FaultSettingsError):
        faults.update({"no_such": 1})
    faults.clear()
    assert faults.to_dict()["latency_ms"] == 5 and faults.error_rate == 0.0


def test_seeded_rolls_repeat() -> None:
    a, b = Faults(seed=11), Faults(seed=11)
    assert [a.roll(0.5) for _ in range(20)] == [b.roll(0.5) for _ in range(20)]
    assert Faults().roll(1.0) and not Faults().roll(0.0)


def test_token_bucket_refuses_beyond_burst() -> None:
    bucket = TokenBucket(2)
    assert bucket.take() == 0.0 and bucket.take() == 0.0
    assert bucket.take() > 0.0


async def test_control_plane_sets_shows_and_clears_faults(
    client: tuple[httpx.AsyncClient, SandboxApp],
) -> None:
    c, _ = client
    r = await c.post("/_sandbox/faults", json={"error_rate": 1.0, "error_status": 500})
    assert r.status_code == 200 and r.json()["error_rate"] == 1.0
    assert (await c.post("/_sandbox/faults", json={"error_rate": "x"})).status_code == 400
    assert (await c.post("/_sandbox/faults", content=b"[1]")).status_code == 400
    r = await c.get("/count")
    assert r.status_code == 500 and r.json() == {"err": "Internal server error", "status": 500}
    # Control routes are never faulted.
    assert (await c.get("/_sandbox/faults")).json()["error_status"] == 500
    assert (await c.delete("/_sandbox/faults")).json()["error_rate"] == 0.0
    assert (await c.get("/count")).status_code == 200


async def test_gateway_errors_answer_html_and_skip_the_write(
    client: tuple[httpx.AsyncClient, SandboxApp],
) -> None:
    c, app = client
    await c.post("/_sandbox/faults", json={"error_rate": 1.0, "error_status": 503})
    r = await c.post("/count")
    assert r.status_code == 503 and r.headers["content-type"] == "text/html"
    assert "<html>" in r.text
    assert app.state["count"] == 0


async def test_rate_limit_answers_429_with_optional_retry_after(
    client: tuple[httpx.AsyncClient, SandboxApp],
) -> None:
    c, _ = client
    await c.post("/_sandbox/faults", json={"rate_limit": 1, "retry_after": 2})
    assert (await c.get("/count")).status_code == 200
    r = await c.get("/count")
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    assert r.json()["status"] == 429


async def test_timeout_holds_and_does_not_apply(
    client: tuple[httpx.AsyncClient, SandboxApp],
) -> None:
    c, app = client
    await c.post("/_sandbox/faults", json={"timeout_rate": 1.0, "timeout_seconds": 0.05})
    r = await c.post("/count")
    assert r.status_code == 504 and app.state["count"] == 0


async def test_lost_response_in_process_applies_then_raises(
    client: tuple[httpx.AsyncClient, SandboxApp],
) -> None:
    c, app = client
    await c.post("/_sandbox/faults", json={"lost_response_rate": 1.0})
    with pytest.raises(httpx.RemoteProtocolError):
        await c.post("/count")
    assert app.state["count"] == 1


def test_lost_response_over_a_socket_closes_the_connection() -> None:
    app, state = _counter_app(Faults(lost_response_rate=1.0))
    with serve(app) as url:
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(f"{url}/count")
        stats = httpx.get(f"{url}/_sandbox/stats").json()
    assert state["count"] == 1
    assert stats["requests"] == {"POST /count": {"lost": 1}}


async def test_stats_count_routes_and_reset_clears(
    client: tuple[httpx.AsyncClient, SandboxApp],
) -> None:
    c, app = client
    await c.post("/count")
    await c.get("/count")
    await c.get("/nowhere")
    stats = (await c.get("/_sandbox/stats")).json()
    assert stats["requests"] == {
        "GET (unmatched)": {"404": 1},
        "GET /count": {"200": 1},
        "POST /count": {"201": 1},
    }
    assert stats["objects"] == {"count": 1}
    assert (await c.post("/_sandbox/reset")).json() == {"reset": True}
    stats = (await c.get("/_sandbox/stats")).json()
    assert stats["total_requests"] == 0 and stats["objects"] == {"count": 0}


async def test_webhooks_retry_a_failing_target_until_delivered() -> None:
    listener = _Listener(statuses=[500, 503])
    app, _ = _counter_app(transport=httpx.ASGITransport(listener))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sb") as c:
        r = await c.post("/_sandbox/webhooks", json={"url": "http://hook/a", "secret": "s3"})
        assert r.status_code == 201 and r.json() == {"url": "http://hook/a", "has_secret": True}
        assert (await c.post("/_sandbox/webhooks", json={"url": "ftp://x"})).status_code == 400
        await c.post("/count")
        assert await app.dispatcher.wait_idle(5)
        deliveries = (await c.get("/_sandbox/webhooks/deliveries")).json()["deliveries"]
    await app.aclose()
    assert listener.bodies == [{"n": 1}]
    assert listener.headers[0]["x-event-id"] == "evt_1"
    assert listener.headers[0]["x-secret-len"] == "2"
    [delivery] = deliveries
    assert delivery["status"] == "delivered" and delivery["attempts"] == 3
    assert delivery["event_type"] == "counter.incremented" and delivery["last_status"] == 200


async def test_webhooks_give_up_after_max_attempts() -> None:
    listener = _Listener(statuses=[500] * 10)
    app, _ = _counter_app(transport=httpx.ASGITransport(listener))
    app.dispatcher.add_target("http://hook/a")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sb") as c:
        await c.post("/count")
        assert await app.dispatcher.wait_idle(5)
        [delivery] = (await c.get("/_sandbox/webhooks/deliveries?status=failed")).json()[
            "deliveries"
        ]
    await app.aclose()
    assert delivery["attempts"] == 4 and delivery["last_error"] == "HTTP 500"
    assert listener.bodies == []


async def test_webhook_faults_duplicate_fail_and_shuffle() -> None:
    listener = _Listener()
    faults = Faults(seed=1)
    app, _ = _counter_app(faults=faults, transport=httpx.ASGITransport(listener))
    app.dispatcher.add_target("http://hook/a")
    faults.update({"webhook_duplicate_rate": 1.0, "webhook_failure_rate": 0.5})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sb") as c:
        for _ in range(3):
            await c.post("/count")
        assert await app.dispatcher.wait_idle(5)
        faults.update({"webhook_duplicate_rate": 0.0, "webhook_failure_rate": 0.0})
        faults.update({"webhook_shuffle": True, "seed": 5})
        for _ in range(6):
            await c.post("/count")
        assert await app.dispatcher.wait_idle(5)
        deliveries = (await c.get("/_sandbox/webhooks/deliveries")).json()["deliveries"]
    await app.aclose()
    first, shuffled = listener.bodies[:6], [b["n"] for b in listener.bodies[6:]]
    assert sorted(b["n"] for b in first) == [1, 1, 2, 2, 3, 3]
    assert any(d["attempts"] > 1 for d in deliveries[:6])
    assert sorted(shuffled) == [4, 5, 6, 7, 8, 9] and shuffled != sorted(shuffled)


class _SlowTarget:
    """A webhook target on a real socket that answers after `delay`, counting overlap."""

    def __init__(self, delay: float = 0.15) -> None:
        self.delay = delay
        self.current = 0
        self.peak = 0
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        request = Request(scope, receive)
        self.current += 1
        self.peak = max(self.peak, self.current)
        try:
            self.bodies.append(await request.body())
            self.headers.append(dict(request.headers))
            await asyncio.sleep(self.delay)
        finally:
            self.current -= 1
        await Response(status_code=204)(scope, receive, send)


async def _burst_to(target: _SlowTarget, concurrency: int, events: int = 6) -> SandboxApp:
    app, _ = _counter_app()
    app.dispatcher.concurrency = concurrency
    with serve(target) as url:
        app.dispatcher.add_target(f"{url}/hook", "s3cret")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sb") as c:
            for _ in range(events):
                assert (await c.post("/count")).status_code == 201
            assert await app.dispatcher.wait_idle(10)
        await app.aclose()
    return app


async def test_webhook_concurrency_overlaps_deliveries_over_a_socket() -> None:
    target = _SlowTarget()
    app = await _burst_to(target, concurrency=3)
    assert target.peak >= 2
    assert sorted(json.loads(b)["n"] for b in target.bodies) == [1, 2, 3, 4, 5, 6]
    assert app.dispatcher.counts() == {"pending": 0, "delivered": 6, "failed": 0}


async def test_webhook_concurrency_one_never_overlaps_and_keeps_order() -> None:
    target = _SlowTarget(delay=0.05)
    app = await _burst_to(target, concurrency=1)
    assert target.peak == 1
    assert [json.loads(b)["n"] for b in target.bodies] == [1, 2, 3, 4, 5, 6]
    # Over aiohttp the body and the signer's headers arrive as given.
    assert target.bodies[0] == b'{"n": 1}'
    assert target.headers[0]["x-event-id"] == "evt_1"
    assert target.headers[0]["x-secret-len"] == "6"
    assert target.headers[0]["content-type"] == "application/json"
    assert target.headers[0]["user-agent"] == "billsync-sandbox"
    assert app.dispatcher.sender.session is None  # closed with the app


async def test_webhook_over_a_socket_records_errors_and_retries() -> None:
    app, _ = _counter_app()
    app.dispatcher.add_target(f"http://127.0.0.1:{free_port()}/nobody")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sb") as c:
        await c.post("/count")
        assert await app.dispatcher.wait_idle(5)
        [delivery] = (await c.get("/_sandbox/webhooks/deliveries")).json()["deliveries"]
    await app.aclose()
    assert delivery["status"] == "failed" and delivery["attempts"] == 4
    assert delivery["last_status"] is None
    assert delivery["last_error"].startswith("ConnectError: ")


def test_webhook_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError):
        WebhookDispatcher(faults=Faults(), concurrency=0)
