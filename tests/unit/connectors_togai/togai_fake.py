"""A small in-memory Togai behind httpx.MockTransport, for the connector's unit tests.

Deliberately independent of billsync's sandbox: it implements only the endpoints the
connector calls, with Togai's documented status codes (201 on POST /settings, PATCH
/settings and POST /payments), `{"message"}` error bodies and nextToken pagination.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import httpx

TOKEN = "tok_unit_secret"


def account(account_id: str = "ACC1", **extra: Any) -> dict[str, Any]:
    return {
        "id": account_id,
        "togaiAccountId": f"account.{account_id.lower()}.x1",
        "togaiCustomerId": "customer.c1.x1",
        "customerId": "CUST1",
        "name": f"Account {account_id}",
        "status": "ACTIVE",
        "invoiceCurrency": "INR",
        "primaryEmail": "billing@example.com",
        "address": {"phoneNumber": "+919876543210", "country": "IN"},
        **extra,
    }


def invoice(
    invoice_id: str = "inv.1.a",
    owner: str = "ACC1",
    status: str = "DUE",
    total: float = 881.94,
    paid: float = 0,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": invoice_id,
        "ownerId": owner,
        "customerId": "CUST1",
        "status": status,
        "invoiceClass": "INVOICE",
        "invoiceType": "STANDARD",
        "invoiceDate": "2024-08-04T12:00:00.000Z",
        "updatedAt": "2024-08-04T12:00:00.000Z",
        "generatedAt": "2024-08-04T12:00:00Z",
        "totalAmount": total,
        "paidAmount": paid,
        "netTermDays": 30,
        "sequenceId": "2024-08-0001",
        "invoiceDetails": {
            "account": {
                "name": "Account",
                "invoiceCurrency": "INR",
                "primaryEmail": "billing@example.com",
                "address": {"country": "IN"},
            }
        },
        **extra,
    }


@dataclass
class FakeTogai:
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    #: Responses served (in order) before normal handling, e.g. injected faults.
    queued: list[httpx.Response] = field(default_factory=list)
    page_size: int = 2

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def writes(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method != "GET"]

    def add_account(self, **kw: Any) -> dict[str, Any]:
        acc = account(**kw)
        self.accounts[acc["id"]] = acc
        return acc

    def add_invoice(self, **kw: Any) -> dict[str, Any]:
        inv = invoice(**kw)
        self.invoices[inv["id"]] = inv
        return inv

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.queued:
            return self.queued.pop(0)
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return _err(401, "Unauthorized")
        parts = [unquote(p) for p in request.url.raw_path.decode().split("?")[0].split("/")[1:]]
        body = json.loads(request.content) if request.content else None
        route = (request.method, parts[0], len(parts))
        params = request.url.params
        if route == ("GET", "accounts", 1):
            return self._page(list(self.accounts.values()), params)
        if route == ("GET", "accounts", 2):
            return _found(self.accounts.get(parts[1]))
        if route == ("GET", "invoices", 1):
            # Like Togai, later pages carry the filter inside the token.
            status = params.get("status") or _token(params)[1] or None
            items = [i for i in self.invoices.values() if status in (None, i["status"])]
            return self._page(items, params, status or "")
        if route == ("GET", "invoices", 2):
            return _found(self.invoices.get(parts[1]))
        if route == ("PATCH", "invoices", 2):
            inv = self.invoices.get(parts[1])
            if inv is None:
                return _err(404, "Invoice not found")
            inv["status"] = body["status"]
            if body["status"] == "PAID":
                inv["paidAmount"] = inv["totalAmount"]
            return httpx.Response(200, json=inv)
        if route == ("GET", "settings", 1):
            wanted = {k: params[k] for k in ("entity_type", "entity_id") if k in params}
            keys = {"entity_type": "entityType", "entity_id": "entityId"}
            items = [
                x for x in self.settings.values() if all(x[keys[k]] == v for k, v in wanted.items())
            ]
            return self._page(items, params)
        if route == ("GET", "settings", 2):
            return _found(self.settings.get(parts[1]))
        if route == ("POST", "settings", 1):
            full = "setting.{namespace}.{id}.{entityType}.{entityId}".format(**body)
            if full in self.settings:
                return _err(409, "Setting already exists")
            self.settings[full] = body
            return httpx.Response(201, json=body)
        if route == ("PATCH", "settings", 2):
            setting = self.settings.get(parts[1])
            if setting is None:
                return _err(404, "Setting not found")
            setting.update(body)
            return httpx.Response(201, json=setting)
        if route == ("POST", "payments", 1):
            return self._create_payment(body)
        if route == ("GET", "payments", 1):
            items = [
                p
                for p in self.payments.values()
                if params.get("account_id") in (None, p["accountId"])
            ]
            return self._page(items, params)
        if route == ("GET", "payments", 2):
            return _found(self.payments.get(parts[1]))
        return _err(404, "No such route")

    def _create_payment(self, body: dict[str, Any]) -> httpx.Response:
        payment_id = f"payment.{len(self.payments) + 1}.x"
        payment = {
            "id": payment_id,
            "accountId": body["accountId"],
            "currency": body["currency"],
            "totalAmount": body["totalAmount"],
            # A single object despite the plural name, as togai-client 1.0.3 models it.
            "externalPaymentReferences": body["externalPaymentReference"],
            "lineItemRecords": body["lineItemRecords"],
            "version": 1,
            "createdBy": "api",
            "createdAt": "2024-08-05T10:00:00Z",
        }
        self.payments[payment_id] = payment
        for record in body["lineItemRecords"]:
            inv = self.invoices[record["togaiId"]]
            paid = Decimal(str(inv["paidAmount"])) + Decimal(str(record["amount"]))
            inv["paidAmount"] = float(paid)
            total = Decimal(str(inv["totalAmount"]))
            inv["status"] = "PAID" if paid >= total else "PARTIALLY_PAID"
        return httpx.Response(201, json=payment)

    def _page(
        self, items: list[dict[str, Any]], params: httpx.QueryParams, filt: str = ""
    ) -> httpx.Response:
        start = _token(params)[0]
        size = min(int(params.get("pageSize") or self.page_size), self.page_size)
        chunk = items[start : start + size]
        more = start + size < len(items)
        token = f"{start + size}|{filt}" if more else None
        return httpx.Response(200, json={"data": chunk, "nextToken": token})


def _token(params: httpx.QueryParams) -> tuple[int, str]:
    offset, _, filt = (params.get("nextToken") or "0|").partition("|")
    return int(offset), filt


def _found(obj: dict[str, Any] | None) -> httpx.Response:
    return httpx.Response(200, json=obj) if obj is not None else _err(404, "Not found")


def _err(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"message": message})
