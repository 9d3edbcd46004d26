"""The Razorpay sandbox on a real socket, driven by the official SDK; a webhook listener."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import razorpay
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from billsync.sandbox.razorpay import RazorpaySandboxConfig, create_app
from tests.servers import serve

KEY_ID = "rzp_test_contract"
KEY_SECRET = "contract_secret"
WEBHOOK_SECRET = "contract_webhook_secret"


@dataclass
class Sandbox:
    url: str
    app: Any
    control: httpx.Client

    def client(self, key_id: str = KEY_ID, key_secret: str = KEY_SECRET) -> razorpay.Client:
        # SDK 2.0.1 prepends /v1 itself: base_url is the host only (razorpay-api.md §1.2).
        return razorpay.Client(auth=(key_id, key_secret), base_url=self.url)

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.control.post(f"/_sandbox{path}", json=body or {})

    def faults(self, **settings: Any) -> None:
        response = self.post("/faults", settings)
        assert response.status_code == 200, response.text

    def settled_deliveries(self, within: float = 10) -> list[dict[str, Any]]:
        """Deliveries once none is pending: a listener sees a body before the sandbox sees
        the answer, so right after a listener got something its delivery may be pending."""
        deadline = time.monotonic() + within
        while True:
            deliveries: list[dict[str, Any]] = self.control.get(
                "/_sandbox/webhooks/deliveries"
            ).json()["deliveries"]
            if all(d["status"] != "pending" for d in deliveries):
                return deliveries
            if time.monotonic() > deadline:
                raise AssertionError(f"deliveries still pending: {deliveries}")
            time.sleep(0.02)


@dataclass
class Received:
    headers: dict[str, str]
    body: str

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Listener:
    """Collects webhook deliveries; answers `failures_left` times with 500 first."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    failures_left: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self) -> list[str]:
        with self.lock:
            return [r.event["event"] for r in self.received]

    def wait_for(self, check: Callable[[list[Received]], bool], within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while True:
            with self.lock:
                if check(list(self.received)):
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"webhooks not as expected: {self.events()}")
            time.sleep(0.02)


def _listener_app(listener: Listener) -> Starlette:
    async def receive(request: Request) -> Response:
        body = (await request.body()).decode()
        with listener.lock:
            if listener.failures_left > 0:
                listener.failures_left -= 1
                return Response("try later", status_code=500)
            listener.received.append(Received(dict(request.headers), body))
        return Response("ok")

    return Starlette(routes=[Route("/hook", receive, methods=["POST"])])


@pytest.fixture(scope="module")
def served() -> Iterator[Sandbox]:
    config = RazorpaySandboxConfig(
        key_id=KEY_ID,
        key_secret=KEY_SECRET,
        webhook_secret=WEBHOOK_SECRET,
        webhook_retry_base_s=0.05,
        webhook_retry_max_s=0.2,
    )
    app = create_app(config)
    with serve(app) as url, httpx.Client(base_url=url, timeout=10) as control:
        yield Sandbox(url, app, control)


@pytest.fixture
def sandbox(served: Sandbox) -> Sandbox:
    assert served.post("/reset").status_code == 200
    return served


@pytest.fixture
def client(sandbox: Sandbox) -> razorpay.Client:
    return sandbox.client()


@pytest.fixture(scope="module")
def served_listener() -> Iterator[Listener]:
    listener = Listener()
    with serve(_listener_app(listener)) as url:
        listener.url = url + "/hook"
        yield listener


@pytest.fixture
def listener(served_listener: Listener, sandbox: Sandbox) -> Listener:
    """A listener registered with the sandbox, with the sandbox's default secret."""
    with served_listener.lock:
        served_listener.received.clear()
        served_listener.failures_left = 0
    response = sandbox.post("/webhooks", {"url": served_listener.url, "secret": WEBHOOK_SECRET})
    assert response.status_code == 201, response.text
    return served_listener


def new_customer(client: razorpay.Client, n: int = 1, **extra: Any) -> dict[str, Any]:
    body = {
        "name": f"Customer {n}",
        "email": f"customer{n}@example.com",
        "contact": f"+9198765{n:05d}",
    }
    return dict(client.customer.create(body | extra))


def new_invoice(client: razorpay.Client, customer_id: str, **extra: Any) -> dict[str, Any]:
    body = {
        "type": "invoice",
        "customer_id": customer_id,
        "line_items": [{"name": "Plan", "amount": 50000, "currency": "INR", "quantity": 1}],
    }
    return dict(client.invoice.create(body | extra))
