"""The floor: the same effects as billsync's two outbound flows, made by a plain asyncio
script with httpx, no database, no retries, no re-fetch, no idempotency checks.

`client="billsync"` sends through the HTTP transport billsync's connectors use
(`billsync.connectors.transport.AiohttpTransport` under httpx's API), so the ratio to the
floor measures billsync's own overhead; `client="httpx"` uses httpx's default transport
(the floor of earlier runs, 7-10x more client CPU per request on this machine).

Per account + invoice, in order: create the Razorpay customer, store RazorPayCustomerId on
the Togai account, create the Razorpay invoice, store RazorPayInvoiceId and
RazorPayInvoiceUrl on the Togai invoice: 5 calls, the minimum for these effects.
`concurrency` accounts are in flight at a time. `concurrent_settings`: the invoice's two
settings are written side by side, as billsync's `set_invoice_setting` does (4 round trips
per sync instead of 5); issue #14's floor writes them one after the other.

`togai_rate` (the Togai rate-limit scenario): the floor's Togai calls are paced like
billsync's, by billsync's own token bucket at the same share of the limit
(`engine.ratelimit.paced`), and a 429 is waited out and retried; so against a limit of R
req/s the floor reaches at most 0.95 R / 3 syncs/s (3 Togai writes per sync).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from billsync.connectors.transport import AiohttpTransport
from billsync.engine.ratelimit import TokenBucket, paced
from burst_data import Seeded
from burst_stack import RAZORPAY_AUTH, TOGAI_AUTH

CALLS_PER_SYNC = 5
FLOOR_CLIENTS = ("billsync", "httpx")


@dataclass(frozen=True)
class FloorResult:
    seconds: float
    synced: int
    failed: int

    @property
    def syncs_per_s(self) -> float:
        return self.synced / self.seconds if self.seconds else 0.0


def _setting(entity_type: str, entity_id: str, setting_id: str, value: str) -> dict[str, str]:
    return {
        "id": setting_id,
        "name": setting_id,
        "value": value,
        "entityType": entity_type,
        "entityId": entity_id,
        "namespace": "USER",
        "dataType": "STRING",
    }


async def run_floor(
    togai_url: str,
    razorpay_url: str,
    seeded: Seeded,
    *,
    concurrency: int = 32,
    client: str = "billsync",
    togai_rate: float = 0.0,
    concurrent_settings: bool = False,
) -> FloorResult:
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(
        max_connections=2 * concurrency, max_keepalive_connections=2 * concurrency
    )
    failed = 0
    invoice_of = {account: inv for inv, (account, _) in seeded.invoices.items()}
    total_of = {inv: total for inv, (_, total) in seeded.invoices.items()}

    if client not in FLOOR_CLIENTS:
        raise ValueError(f"floor client must be one of {FLOOR_CLIENTS}")

    def transport() -> httpx.AsyncBaseTransport | None:
        if client == "httpx":
            return None
        return AiohttpTransport(limit=2 * concurrency)

    async with (
        httpx.AsyncClient(
            base_url=togai_url, headers=TOGAI_AUTH, limits=limits, transport=transport()
        ) as togai,
        httpx.AsyncClient(
            base_url=razorpay_url, auth=RAZORPAY_AUTH, limits=limits, transport=transport()
        ) as rzp,
    ):
        bucket = TokenBucket(paced(togai_rate)) if togai_rate else None

        async def togai_post(body: dict[str, str]) -> None:
            while True:
                if bucket is not None:
                    await bucket.acquire()
                r = await togai.post("/settings", json=body)
                if r.status_code != 429:
                    r.raise_for_status()
                    return
                await asyncio.sleep(0.1)

        async def sync(i: int, account_id: str) -> None:
            nonlocal failed
            invoice_id = invoice_of[account_id]
            async with gate:
                try:
                    customer = await rzp.post(
                        "/v1/customers",
                        json={
                            "name": f"Bench account {i}",
                            "email": f"{account_id}@example.com",
                            "contact": f"9198{i:08d}",
                            "fail_existing": "0",
                            "notes": {"togai_account_id": account_id},
                        },
                    )
                    customer.raise_for_status()
                    customer_id = customer.json()["id"]
                    await togai_post(
                        _setting("ACCOUNT", account_id, "RazorPayCustomerId", customer_id)
                    )
                    amount = total_of[invoice_id] * 100
                    invoice = await rzp.post(
                        "/v1/invoices",
                        json={
                            "type": "invoice",
                            "customer_id": customer_id,
                            "line_items": [
                                {
                                    "name": f"Invoice {invoice_id}",
                                    "amount": amount,
                                    "currency": "INR",
                                }
                            ],
                            "currency": "INR",
                            "receipt": invoice_id,
                            "notes": {
                                "togai_invoice_id": invoice_id,
                                "togai_account_id": account_id,
                            },
                        },
                    )
                    invoice.raise_for_status()
                    body = invoice.json()
                    writes = [
                        togai_post(_setting("INVOICE", invoice_id, setting_id, value))
                        for setting_id, value in (
                            ("RazorPayInvoiceId", body["id"]),
                            ("RazorPayInvoiceUrl", body["short_url"]),
                        )
                    ]
                    if concurrent_settings:
                        await asyncio.gather(*writes)
                    else:
                        for write in writes:
                            await write
                except httpx.HTTPError:
                    failed += 1

        started = time.perf_counter()
        await asyncio.gather(*(sync(i, a) for i, a in enumerate(seeded.account_ids)))
        seconds = time.perf_counter() - started
    return FloorResult(seconds=seconds, synced=len(seeded.account_ids) - failed, failed=failed)
