"""Fixtures: the Togai sandbox on a real socket, the official client pointed at it, a listener."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import togai_client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from billsync.sandbox.togai import TogaiSandboxConfig, create_app
from tests.servers import serve

TOKEN = "togai_sandbox_token"


@dataclass
class Sandbox:
    url: str
    app: Any

    def api(self, token: str = TOKEN) -> togai_client.ApiClient:
        return togai_client.ApiClient(togai_client.Configuration(host=self.url, access_token=token))

    def http(self, token: str = TOKEN) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"})

    def control(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = httpx.request(method, f"{self.url}/_sandbox{path}", **kwargs)
        return response

    def settled_deliveries(self, within: float = 10) -> list[dict[str, Any]]:
        """Deliveries once none is pending: a listener sees a body before the sandbox sees
        the answer, so right after a listener got something its delivery may be pending."""
        deadline = time.monotonic() + within
        while True:
            deliveries: list[dict[str, Any]] = self.control("GET", "/webhooks/deliveries").json()[
                "deliveries"
            ]
            if all(d["status"] != "pending" for d in deliveries):
                return deliveries
            if time.monotonic() > deadline:
                raise AssertionError(f"deliveries still pending: {deliveries}")
            time.sleep(0.02)

    def invoice(self, account_id: str, total: float = 881.94, status: str = "DUE") -> str:
        r = self.control(
            "POST",
            "/invoices",
            json={"accountId": account_id, "totalAmount": total, "status": status},
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


@contextmanager
def running(config: TogaiSandboxConfig | None = None) -> Iterator[Sandbox]:
    app = create_app(config or TogaiSandboxConfig(seed=1))
    with serve(app) as url:
        yield Sandbox(url, app)


@pytest.fixture(scope="module")
def _shared() -> Iterator[Sandbox]:
    with running() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(_shared: Sandbox) -> Sandbox:
    """One server per test module, reset before each test."""
    assert _shared.control("POST", "/reset").status_code == 200
    return _shared


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[togai_client.ApiClient]:
    with sandbox.api() as client:
        yield client


def new_customer(api: togai_client.ApiClient, customer_id: str, **extra: Any) -> Any:
    request = togai_client.models.CreateCustomerRequest.from_dict(
        {
            "id": customer_id,
            "name": f"Customer {customer_id}",
            "primaryEmail": f"{customer_id.lower()}@example.com",
            "address": {"line1": "2281 Broadway Street", "city": "Bengaluru", "country": "IN"},
            **extra,
        }
    )
    return togai_client.CustomersApi(api).create_customer(request)


@dataclass
class Listener:
    """A webhook receiver: records bodies and headers; answers `fail_first` 500s first."""

    url: str = ""
    fail_first: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    refused: int = 0

    async def endpoint(self, request: Request) -> Response:
        body = await request.json()
        if self.refused < self.fail_first:
            self.refused += 1
            return Response(status_code=500)
        self.received.append(body)
        self.headers.append(dict(request.headers))
        return Response(status_code=204)

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], within: float = 10
    ) -> None:
        deadline = time.monotonic() + within
        while not predicate(self.received):
            if time.monotonic() > deadline:
                raise AssertionError(f"webhooks not as expected; got {self.received}")
            time.sleep(0.02)

    def types(self) -> list[str]:
        return [event["type"] for event in self.received]


@pytest.fixture
def listener() -> Iterator[Listener]:
    recorder = Listener()
    app = Starlette(routes=[Route("/hook", recorder.endpoint, methods=["POST"])])
    with serve(app) as url:
        recorder.url = f"{url}/hook"
        yield recorder
