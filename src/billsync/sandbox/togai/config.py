"""Settings of the Togai sandbox. Defaults follow the reference; UNCONFIRMED facts are knobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class TogaiSandboxConfig:
    token: str = "togai_sandbox_token"
    webhook_urls: tuple[str, ...] = ()
    latency_ms: int = 0
    rate_limit: float = 0
    # Currency of accounts created without invoiceCurrency (Togai uses the org's base currency).
    base_currency: str = "INR"
    # netTermDays of invoices whose account has none.
    default_net_term_days: int = 30
    # UNCONFIRMED: the status Togai answers for a duplicate customer/account id, and for a
    # setting inserted twice (400 vs 409).
    duplicate_id_status: int = 400
    duplicate_setting_status: int = 400
    # UNCONFIRMED: whether PATCH /invoices/{id} {"status": "PAID"} is still accepted after the
    # 2024-07 "payment must be recorded" change.
    allow_patch_paid: bool = True
    # UNCONFIRMED: whether Togai rejects a second payment with the same
    # externalPaymentReference (sourceName, transactionNumber).
    reject_duplicate_payment_reference: bool = False
    # UNCONFIRMED: the field GET /invoices start_time/end_time (epoch ms) filter on.
    invoice_time_filter_field: str = "invoiceDate"
    # Togai's documented quirk: a full last page may still carry a nextToken that leads to an
    # empty page. Off by default: the last page has nextToken null.
    trailing_empty_page: bool = False
    # UNCONFIRMED: what Togai does once an account holds more than the 10 settings or 10
    # aliases its Account model embeds (togai-client 1.0.3 refuses to parse more). "cap":
    # store them all, embed the first 10 (in creation order; the rest are listed by
    # GET /settings); "refuse": answer 400 to the 11th setting or alias.
    account_overflow: Literal["cap", "refuse"] = "cap"
    # UNCONFIRMED: what POST /payments does with the part of totalAmount its lineItemRecords
    # leave unapplied. "refuse": 400, nothing recorded; "wallet": the rest is recorded as a
    # WALLET_CREDIT line item record of the payment (Togai's overpayment instrument).
    unapplied_payment: Literal["refuse", "wallet"] = "refuse"
    # Bodies with fields the API does not know answer 400 (off: they are ignored).
    reject_unknown_fields: bool = True
    # Answer 429 with this Retry-After (seconds); None sends no header (Togai documents none).
    retry_after: int | None = None
    # Webhook delivery: exponential backoff from base to cap, at most this many attempts.
    webhook_base_delay: float = 1.0
    webhook_max_delay: float = 60.0
    webhook_max_attempts: int = 10
    webhook_timeout: float = 5.0
    # UNCONFIRMED: how many deliveries Togai has in flight per target at once (the reference
    # says nothing); 1 = one at a time, in queue order.
    webhook_concurrency: int = 1
    # Seed for ids and fault dice; None = random.
    seed: int | None = None
