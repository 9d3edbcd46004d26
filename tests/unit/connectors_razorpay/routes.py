"""A tiny scripted Razorpay for unit tests: routes → handlers over httpx.MockTransport.

Each handler gets the request and returns (status, json body). Every request is recorded
so tests can assert what went on the wire (method, path, query, body, auth).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from billsync.connectors.razorpay.client import RazorpayClient
from billsync.domain import LinkKind, Side

Handler = Callable[[httpx.Request], tuple[int, Any]]

KEY_ID = "rzp_test_unit"
KEY_SECRET = "unit_secret_value"


def error(description: str, **extra: Any) -> dict[str, Any]:
    return {
        "error": {
            "code": "BAD_REQUEST_ERROR",
            "description": description,
            "source": "NA",
            "step": "NA",
            "reason": "NA",
            "metadata": {},
            **extra,
        }
    }


@dataclass
class Routes:
    handlers: dict[tuple[str, str], Handler] = field(default_factory=dict)
    seen: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, path: str, handler: Handler | tuple[int, Any]) -> None:
        self.handlers[(method, path)] = handler if callable(handler) else (lambda _r: handler)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        handler = self.handlers.get((request.method, request.url.path))
        if handler is None:
            return httpx.Response(400, json=error("The requested URL was not found on the server."))
        status, body = handler(request)
        if isinstance(body, str):
            return httpx.Response(status, text=body, headers={"content-type": "text/html"})
        return httpx.Response(status, json=body)

    def client(self, **kw: Any) -> RazorpayClient:
        return RazorpayClient(
            KEY_ID,
            KEY_SECRET,
            base_url="https://rzp.test",
            transport=httpx.MockTransport(self.handle),
            **kw,
        )

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.url.path) for r in self.seen]

    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls() if c[0] != "GET"]


def body(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


@dataclass
class DictIds:
    """ActionContext.ids backed by a dict: {(kind, togai id): razorpay id}."""

    links: dict[tuple[LinkKind, str], str] = field(default_factory=dict)

    async def find(self, kind: LinkKind, side: Side, value: str) -> str | None:
        if side is Side.TOGAI:
            return self.links.get((kind, value))
        for (k, togai), razorpay in self.links.items():
            if k is kind and razorpay == value:
                return togai
        return None


def customer(id: str = "cust_A0000000000001", **extra: Any) -> dict[str, Any]:
    return {
        "id": id,
        "entity": "customer",
        "name": "Acme",
        "email": "billing@acme.test",
        "contact": "+919876543210",
        "gstin": None,
        "notes": [],
        "created_at": 1700000000,
        **extra,
    }


def invoice(id: str = "inv_A0000000000001", **extra: Any) -> dict[str, Any]:
    return {
        "id": id,
        "entity": "invoice",
        "type": "invoice",
        "receipt": "tg.inv.1",
        "invoice_number": "tg.inv.1",
        "customer_id": "cust_A0000000000001",
        "status": "issued",
        "amount": 29900,
        "amount_paid": 0,
        "amount_due": 29900,
        "currency": "INR",
        "short_url": "https://rzp.io/i/abcdefg",
        "notes": {"togai_invoice_id": "tg.inv.1", "togai_account_id": "acc.1"},
        "line_items": [],
        "created_at": 1700000000,
        **extra,
    }


def collection(*items: dict[str, Any]) -> dict[str, Any]:
    return {"entity": "collection", "count": len(items), "items": list(items)}
