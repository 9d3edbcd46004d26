"""Settings of one Razorpay sandbox; UNCONFIRMED Razorpay behaviour is switchable here."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RazorpaySandboxConfig:
    """How the sandbox authenticates, signs webhooks and behaves where Razorpay is undocumented.

    Fields after `rate_limit` default to the best inference in the reference
    (razorpay-api.md); each names the behaviour it toggles.
    """

    key_id: str = "rzp_test_sandbox"
    key_secret: str = "sandbox_secret"
    webhook_urls: tuple[str, ...] = ()
    webhook_secret: str = "sandbox_webhook_secret"
    latency_ms: int = 0
    rate_limit: float = 0
    account_id: str = "acc_SandboxAcct0001"
    # Account setting, not an API rule: real accounts need "international" activated
    # before they may bill in a currency other than INR. Off, as on a new account, so a
    # non-INR sync fails here as it would live; tests of other currencies switch it on.
    international: bool = False
    # UNCONFIRMED: the minimum is documented for orders/refunds (INR 1.00); assumed for
    # invoices and payment links too.
    min_amount: int = 100
    # UNCONFIRMED: Razorpay calls invoice receipts "unique" but enforcement is not documented.
    unique_invoice_receipt: bool = False
    # UNCONFIRMED: which customer fields PUT /v1/customers/:id accepts (Node typings: the
    # first three only; the PHP docs add notes).
    customer_edit_fields: tuple[str, ...] = ("name", "email", "contact", "gstin", "notes")
    # Razorpay expires invoices and links by itself "a few minutes" after expire_by (the
    # delay is UNCONFIRMED); the sandbox applies due expiries at the next request.
    auto_expire: bool = True
    expiry_delay_s: int = 0
    # GET /v1/payments refuses a `from` outside this range with "from must be between
    # 946684800 and 4765046400" (documented); the same range and wording for `to` are
    # UNCONFIRMED. Other lists take any integer (UNCONFIRMED whether they are bounded alike).
    payments_time_range: tuple[int, int] = (946684800, 4765046400)
    # UNCONFIRMED: whether a payment created in the very second `to` names is listed ("till
    # when" in the docs); assumed yes, like `from` ("from when").
    payments_to_inclusive: bool = True
    # Payment links: expire_by defaults to, and may not exceed, "6 months" after creation
    # (razorpay-api.md §5). UNCONFIRMED: whether that is calendar months; 180 days here.
    link_max_expiry_s: int = 180 * 24 * 3600
    webhook_timeout_s: float = 5.0
    # UNCONFIRMED: Razorpay retries "with exponential backoff" for 24 h, schedule unpublished;
    # the sandbox doubles from webhook_retry_base_s up to webhook_retry_max_s.
    webhook_retry_base_s: float = 1.0
    webhook_retry_max_s: float = 60.0
    webhook_max_attempts: int = 10
    # UNCONFIRMED: how many deliveries Razorpay has in flight per URL at once (it documents
    # only that order is not guaranteed); 1 = one at a time.
    webhook_concurrency: int = 1
    # Seeds ids and fault dice, for reproducible runs; None = random.
    seed: int | None = None
    clock: Callable[[], float] = time.time
