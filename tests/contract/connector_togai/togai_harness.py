"""The Togai connector's harness for the generic contract suite, on the Togai sandbox.

The connector never creates customers, accounts or invoices, so prerequisites are made
with plain requests on the client's own HTTP session (`client._http`: the same base URL,
token and transport, in-process or over a socket) and the sandbox's control plane.
"""

from __future__ import annotations

from typing import Any

import httpx

from billsync.connectors.togai import APP
from billsync.connectors.togai.client import TogaiClient
from billsync.domain import LinkKind
from billsync.sandbox.togai import TogaiSandboxConfig, create_app
from tests.contract.connector_suite import (
    RETRY_AFTER,
    ActionCase,
    AppHarness,
    DictIds,
    Fault,
    WebhookCase,
)

CONFIG = TogaiSandboxConfig()
TOKEN = CONFIG.token
ACCOUNT = "ACC-SUITE-1"

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
        headers = {"Authorization": f"Bearer {TOKEN}"}
        (await raw.get("/accounts", params={"pageSize": 1}, headers=headers)).raise_for_status()


async def clear_faults(raw: httpx.AsyncClient) -> None:
    (await raw.delete("/_sandbox/faults")).raise_for_status()


def objects(kind: str) -> Any:
    async def count(raw: httpx.AsyncClient) -> int:
        stats = (await raw.get("/_sandbox/stats")).raise_for_status().json()
        return int(stats["objects"].get(kind, 0))

    return count


def session(client: TogaiClient) -> httpx.AsyncClient:
    return client._http  # the test's way in: same URL, token and transport as the connector


async def make_account(client: TogaiClient, account_id: str = ACCOUNT) -> str:
    http = session(client)
    customer_id = f"CUST-{account_id}"
    existing = await http.get(f"/accounts/{account_id}")
    if existing.status_code == 200:
        return account_id
    # One request: a customer created with its account (so one account.created event).
    created = await http.post(
        "/customers",
        json={
            "id": customer_id,
            "name": "Suite Customer",
            "primaryEmail": "suite@example.com",
            "address": {"country": "IN"},
            "account": {
                "id": account_id,
                "name": "Suite Account",
                "invoiceCurrency": "INR",
                "primaryEmail": "suite@example.com",
            },
        },
    )
    created.raise_for_status()
    return account_id


async def make_invoice(
    client: TogaiClient, account_id: str = ACCOUNT, total: float = 881.94, status: str = "DUE"
) -> str:
    await make_account(client, account_id)
    response = await session(client).post(
        "/_sandbox/invoices",
        json={"accountId": account_id, "totalAmount": total, "status": status},
    )
    response.raise_for_status()
    return str(response.json()["id"])


async def build_account_setting(client: TogaiClient, ids: DictIds) -> dict[str, Any]:
    return {"account_id": await make_account(client), "value": "cust_Suite0001"}


async def build_invoice_setting(client: TogaiClient, ids: DictIds) -> dict[str, Any]:
    # One setting only: the suite's lost-write test expects the whole action to be one write.
    return {"invoice_id": await make_invoice(client), "razorpay_invoice_id": "inv_Suite0001"}


async def build_record_payment(client: TogaiClient, ids: DictIds) -> dict[str, Any]:
    invoice_id = await make_invoice(client, total=881.94)
    return {
        "razorpay_payment_id": "pay_Suite0001",
        "amount": 88194,
        "currency": "INR",
        "togai_invoice_id": invoice_id,
        "razorpay_invoice_id": "inv_Suite0001",
    }


async def seed(client: TogaiClient, n: int) -> list[str]:
    return [await make_invoice(client, total=100 + i) for i in range(n)]


async def list_all(client: TogaiClient, page_size: int) -> list[str]:
    # Filters travel inside nextToken after the first page: this checks that too.
    seen: list[str] = []
    page = await client.list_invoices(status="DUE", page_size=page_size)
    while True:
        seen += [invoice.id for invoice in page.data]
        if not page.next_token or not page.data:
            return seen
        page = await client.list_invoices(next_token=page.next_token)


async def emit_webhooks(raw: httpx.AsyncClient, client: TogaiClient, ids: DictIds) -> set[str]:
    """Create an account, generate an invoice and void another: three kinds of delivery."""
    await make_account(client, "ACC-HOOK-1")
    await make_invoice(client, "ACC-HOOK-1", total=500, status="DUE")
    voided = await make_invoice(client, "ACC-HOOK-1", total=20, status="DRAFT")
    (await raw.post(f"/_sandbox/invoices/{voided}/void")).raise_for_status()
    return {"account.created", "invoice.generated", "invoice.voided"}


TOGAI = AppHarness(
    app=APP,
    sandbox=lambda: create_app(CONFIG),
    connection={"api_token": TOKEN},
    bad_connection={"api_token": "not-the-togai-token"},
    set_fault=set_fault,
    clear_faults=clear_faults,
    cases=(
        ActionCase("set_account_setting", build_account_setting, objects("settings")),
        ActionCase("set_invoice_setting", build_invoice_setting, objects("settings")),
        ActionCase(
            "record_payment",
            build_record_payment,
            objects("payments"),
            links=(LinkKind.PAYMENT_PAYMENT,),
        ),
    ),
    seed=seed,
    list_all=list_all,
    fault_case="record_payment",
    # account.created, invoice.generated (DUE) and the DRAFT invoice's invoice.updated (VOID).
    webhook=WebhookCase(emit_webhooks, expected_deliveries=3),
)
