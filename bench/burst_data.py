"""The burst's Togai data (N accounts, N due invoices) and the check of what reached
Razorpay and came back to Togai, counted through the sandboxes' own APIs."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from burst_stack import TOGAI_AUTH, call, razorpay_all, togai_settings


@dataclass
class Seeded:
    """What the driver created, with when each Togai event came into being."""

    account_ids: list[str] = field(default_factory=list)
    #: account id → wall-clock time its creation was acknowledged (the account.created event)
    account_at: dict[str, float] = field(default_factory=dict)
    #: togai invoice id → (account id, total amount)
    invoices: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: togai invoice id → the sandbox's generatedAt (the invoice.generated event), epoch s
    invoice_at: dict[str, float] = field(default_factory=dict)
    started: float = 0.0
    accounts_done: float = 0.0
    finished: float = 0.0


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def seed(
    client: httpx.AsyncClient,
    togai_url: str,
    n: int,
    tag: str,
    *,
    concurrency: int = 32,
    control_plane: bool = False,
) -> Seeded:
    """N accounts (POST /customers with an embedded account), then one DUE invoice each
    through the control plane, `concurrency` requests at a time. `control_plane`: the
    accounts too (`POST /_sandbox/customers`, the same create outside the API), so a
    rate-limited Togai sandbox spends its limit on billsync alone."""
    accounts_url = f"{togai_url}/_sandbox/customers" if control_plane else f"{togai_url}/customers"
    out = Seeded(account_ids=[f"{tag}-{i:05d}" for i in range(n)])
    gate = asyncio.Semaphore(concurrency)

    async def account(i: int, account_id: str) -> None:
        email = f"{account_id}@example.com"
        async with gate:
            await call(
                client,
                "POST",
                accounts_url,
                headers=TOGAI_AUTH,
                json={
                    "id": account_id,
                    "name": f"Bench customer {i}",
                    "primaryEmail": email,
                    "address": {"line1": "12 MG Road", "city": "Bengaluru", "country": "IN"},
                    "account": {
                        "id": account_id,
                        "name": f"Bench account {i}",
                        "primaryEmail": email,
                        "invoiceCurrency": "INR",
                        "address": {"phoneNumber": f"+9198{i:08d}"},
                    },
                },
            )
            out.account_at[account_id] = time.time()

    async def invoice(i: int, account_id: str) -> None:
        total = 500 + i
        async with gate:
            r = await call(
                client,
                "POST",
                f"{togai_url}/_sandbox/invoices",
                json={"accountId": account_id, "totalAmount": total, "status": "DUE"},
            )
        body = r.json()
        out.invoices[body["id"]] = (account_id, total)
        out.invoice_at[body["id"]] = _epoch(body["generatedAt"])

    out.started = time.time()
    await asyncio.gather(*(account(i, a) for i, a in enumerate(out.account_ids)))
    out.accounts_done = time.time()
    await asyncio.gather(*(invoice(i, a) for i, a in enumerate(out.account_ids)))
    out.finished = time.time()
    return out


@dataclass
class Outcome:
    """Per Togai id, what exists at the end: duplicates and missing objects."""

    customers: int = 0
    invoices: int = 0
    duplicate_customers: int = 0
    duplicate_invoices: int = 0
    missing_customers: int = 0
    missing_invoices: int = 0
    missing_customer_settings: int = 0
    wrong_customer_settings: int = 0
    missing_invoice_settings: int = 0
    wrong_invoice_settings: int = 0

    @property
    def duplicates(self) -> int:
        return self.duplicate_customers + self.duplicate_invoices

    @property
    def missing(self) -> int:
        return (
            self.missing_customers
            + self.missing_invoices
            + self.missing_customer_settings
            + self.missing_invoice_settings
            + self.wrong_customer_settings
            + self.wrong_invoice_settings
        )


def _note(obj: dict[str, Any], key: str) -> str | None:
    notes = obj.get("notes")
    return notes.get(key) if isinstance(notes, dict) else None


async def check(
    client: httpx.AsyncClient, togai_url: str, razorpay_url: str, seeded: Seeded
) -> Outcome:
    customers = await razorpay_all(client, razorpay_url, "/v1/customers")
    invoices = await razorpay_all(client, razorpay_url, "/v1/invoices")
    account_settings = await togai_settings(client, togai_url, "ACCOUNT", "RazorPayCustomerId")
    invoice_settings = await togai_settings(client, togai_url, "INVOICE", "RazorPayInvoiceId")

    by_account = Counter(_note(c, "togai_account_id") for c in customers)
    by_invoice = Counter(_note(i, "togai_invoice_id") or i.get("receipt") for i in invoices)
    customer_of = {_note(c, "togai_account_id"): c["id"] for c in customers}
    invoice_of = {_note(i, "togai_invoice_id") or i.get("receipt"): i["id"] for i in invoices}
    account_value = {s["entityId"]: s["value"] for s in account_settings}
    invoice_value = {s["entityId"]: s["value"] for s in invoice_settings}

    out = Outcome(customers=len(customers), invoices=len(invoices))
    for account_id in seeded.account_ids:
        count = by_account.get(account_id, 0)
        out.duplicate_customers += max(0, count - 1)
        out.missing_customers += count == 0
        if account_id not in account_value:
            out.missing_customer_settings += 1
        elif count and account_value[account_id] != customer_of[account_id]:
            out.wrong_customer_settings += 1
    for invoice_id in seeded.invoices:
        count = by_invoice.get(invoice_id, 0)
        out.duplicate_invoices += max(0, count - 1)
        out.missing_invoices += count == 0
        if invoice_id not in invoice_value:
            out.missing_invoice_settings += 1
        elif count and invoice_value[invoice_id] != invoice_of[invoice_id]:
            out.wrong_invoice_settings += 1
    return out
