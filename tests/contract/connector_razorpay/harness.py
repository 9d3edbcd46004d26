"""The Razorpay connector's harness for the generic contract suite (tests/contract)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from billsync.connectors.razorpay import APP, RazorpayClient, models
from billsync.domain import LinkKind
from billsync.sandbox.razorpay import RazorpaySandboxConfig, create_app
from tests.contract.connector_suite import (
    RETRY_AFTER,
    ActionCase,
    AppHarness,
    DictIds,
    Fault,
    WebhookCase,
)

CONFIG = RazorpaySandboxConfig()
AUTH = (CONFIG.key_id, CONFIG.key_secret)
ACCOUNT = "acc.suite.0001"
LONG_INVOICE_ID = "togai-invoice." + "x" * 50  # over Razorpay's 40-char receipt limit

_FAULTS: dict[Fault, dict[str, Any]] = {
    Fault.RATE_LIMITED: {"rate_limit": 0.001, "retry_after": RETRY_AFTER},
    Fault.UNAVAILABLE_HTML: {"error_rate": 1.0, "error_status": 503},
    Fault.TIMEOUT: {"timeout_rate": 1.0, "timeout_seconds": 30},
    Fault.LOST_RESPONSE: {"lost_response_rate": 1.0},
}


async def set_fault(raw: httpx.AsyncClient, fault: Fault) -> None:
    (await raw.post("/_sandbox/faults", json=_FAULTS[fault])).raise_for_status()
    if fault is Fault.RATE_LIMITED:
        # The token bucket starts with one token: spend it so the next call is refused.
        (await raw.get("/v1/customers", params={"count": 1}, auth=AUTH)).raise_for_status()


async def clear_faults(raw: httpx.AsyncClient) -> None:
    (await raw.delete("/_sandbox/faults")).raise_for_status()


def _objects(kind: str) -> Any:
    async def count(raw: httpx.AsyncClient) -> int:
        stats = (await raw.get("/_sandbox/stats")).raise_for_status().json()
        return int(stats["objects"].get(kind, 0))

    return count


async def _list(raw: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    response = await raw.get(path, params={"count": 100}, auth=AUTH)
    return list(response.raise_for_status().json()["items"])


async def _customer(client: RazorpayClient, ids: DictIds, email: str) -> models.Customer:
    made = await client.create_customer(
        models.CustomerCreate(
            name="Suite Customer", email=email, contact="+919876543210", fail_existing="0"
        )
    )
    ids.add(LinkKind.ACCOUNT_CUSTOMER, ACCOUNT, made.id)
    return made


async def build_create_customer(client: RazorpayClient, ids: DictIds) -> dict[str, Any]:
    return {
        "togai_account_id": ACCOUNT,
        "togai_customer_id": "cus.suite",
        "name": "Suite Customer",
        "email": "create@suite.test",
        "contact": "+919876543210",
    }


async def build_update_customer(client: RazorpayClient, ids: DictIds) -> dict[str, Any]:
    made = await _customer(client, ids, "update@suite.test")
    return {"customer_id": made.id, "name": "Renamed Customer"}


async def count_renamed(raw: httpx.AsyncClient) -> int:
    return sum(c["name"] == "Renamed Customer" for c in await _list(raw, "/v1/customers"))


def _invoice_input(togai_invoice_id: str) -> dict[str, Any]:
    return {
        "togai_invoice_id": togai_invoice_id,
        "togai_account_id": ACCOUNT,
        "currency": "INR",
        "total_amount": "1499.50",
        "paid_amount": "0",
        "invoice_number": "INV-0001",
        "line_items": [
            {"name": "Platform fee", "amount": "999.50"},
            {"name": "API usage", "amount": "250.00", "quantity": 2},
        ],
    }


def build_create_invoice(togai_invoice_id: str) -> Any:
    async def build(client: RazorpayClient, ids: DictIds) -> dict[str, Any]:
        await _customer(client, ids, "invoice@suite.test")
        return _invoice_input(togai_invoice_id)

    return build


async def build_cancel_invoice(client: RazorpayClient, ids: DictIds) -> dict[str, Any]:
    customer = await _customer(client, ids, "cancel@suite.test")
    made = await client.create_invoice(
        models.InvoiceCreate(
            customer_id=customer.id,
            line_items=[models.LineItemCreate(name="Fee", amount=50000, currency="INR")],
            currency="INR",
            receipt="inv.suite.cancel",
        )
    )
    ids.add(LinkKind.INVOICE_INVOICE, "inv.suite.cancel", made.id)
    return {"togai_invoice_id": "inv.suite.cancel"}  # invoice id comes from the mapping


async def count_cancelled(raw: httpx.AsyncClient) -> int:
    return sum(i["status"] == "cancelled" for i in await _list(raw, "/v1/invoices"))


async def build_payment_link(client: RazorpayClient, ids: DictIds) -> dict[str, Any]:
    await _customer(client, ids, "link@suite.test")
    return {
        "togai_invoice_id": "inv.suite.link",
        "togai_account_id": ACCOUNT,
        "currency": "INR",
        "total_amount": str(Decimal("1200.00")),
        "paid_amount": "200.00",
    }


async def seed(client: RazorpayClient, n: int) -> list[str]:
    made = []
    for i in range(n):
        customer = await client.create_customer(
            models.CustomerCreate(name=f"Page Customer {i}", email=f"page{i}@suite.test")
        )
        made.append(customer.id)
    return made


async def list_all(client: RazorpayClient, page_size: int) -> list[str]:
    return [c.id async for c in client.iter_customers(page_size=page_size)]


async def pay_an_invoice(raw: httpx.AsyncClient, client: RazorpayClient, ids: DictIds) -> set[str]:
    """Issue an invoice and let the sandbox's payer pay it in full."""
    customer = await _customer(client, ids, "webhook@suite.test")
    made = await client.create_invoice(
        models.InvoiceCreate(
            customer_id=customer.id,
            line_items=[models.LineItemCreate(name="Fee", amount=50000, currency="INR")],
            currency="INR",
            receipt="inv.suite.webhook",
            notes={"togai_invoice_id": "inv.suite.webhook", "togai_account_id": ACCOUNT},
        )
    )
    (await raw.post(f"/_sandbox/invoices/{made.id}/pay", json={})).raise_for_status()
    return {"payment.captured", "invoice.paid"}


RAZORPAY = AppHarness(
    app=APP,
    sandbox=lambda: create_app(CONFIG),
    connection={"key_id": CONFIG.key_id, "key_secret": CONFIG.key_secret},
    bad_connection={"key_id": CONFIG.key_id, "key_secret": "not-the-secret"},
    set_fault=set_fault,
    clear_faults=clear_faults,
    cases=(
        ActionCase(
            "create_customer",
            build_create_customer,
            _objects("customer"),
            links=(LinkKind.ACCOUNT_CUSTOMER,),
        ),
        ActionCase("update_customer", build_update_customer, count_renamed),
        ActionCase(
            "create_invoice",
            build_create_invoice("inv.suite.0001"),
            _objects("invoice"),
            links=(LinkKind.INVOICE_INVOICE,),
        ),
        ActionCase(
            "create_invoice",
            build_create_invoice(LONG_INVOICE_ID),
            _objects("invoice"),
            links=(LinkKind.INVOICE_INVOICE,),
            name="create_invoice_digest_receipt",
        ),
        ActionCase("cancel_invoice", build_cancel_invoice, count_cancelled),
        ActionCase("create_payment_link", build_payment_link, _objects("payment_link")),
    ),
    seed=seed,
    list_all=list_all,
    fault_case="create_customer",
    # payment.authorized, payment.captured, order.paid, invoice.paid
    webhook=WebhookCase(pay_an_invoice, secret="suite_webhook_secret", expected_deliveries=4),
)
