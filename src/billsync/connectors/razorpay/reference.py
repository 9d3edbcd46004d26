"""How a Togai object is named on Razorpay: the natural keys and notes billsync writes.

Razorpay has no idempotency header for customers, invoices or payment links, so retries
are made safe by keys derived only from the Togai ids (design: idempotency table).
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from billsync import errors, money
from billsync.connectors.razorpay.errors import APP

#: Razorpay limits invoice `receipt` and payment-link `reference_id` to 40 characters.
MAX_KEY = 40
#: Shown in place of ids that a dry run did not create.
DRY_RUN_ID = "(dry run: not created)"


def natural_key(togai_id: str) -> str:
    """The receipt / reference_id for a Togai id: the id itself, or a stable digest."""
    if 0 < len(togai_id) <= MAX_KEY:
        return togai_id
    return hashlib.sha256(togai_id.encode("utf-8")).hexdigest()[:MAX_KEY]


def notes(**values: str | None) -> dict[str, str]:
    """Razorpay notes (≤15 keys, values ≤255 chars); None values are left out."""
    return {k: v[:255] for k, v in values.items() if v}


def to_minor(amount: Decimal, currency: str, *, label: str, operation: str) -> int:
    """money.to_minor, with refusals turned into a permanent RejectedError."""
    try:
        return money.to_minor(amount, currency, label=label)
    except money.AmountError as exc:
        raise errors.RejectedError(
            str(exc), app=APP, operation=operation, field="amount", reason="amount_not_exact"
        ) from exc
    except ValueError as exc:
        raise errors.RejectedError(
            f"{label}: {exc}", app=APP, operation=operation, field="currency"
        ) from exc
