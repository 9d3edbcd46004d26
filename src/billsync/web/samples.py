"""Sample trigger payloads for the wizard's preview when no real event was stored yet.

Shapes follow the connectors' payload models (togai/triggers.py, razorpay/triggers.py);
the preview prefers the latest stored event of the chosen trigger when there is one.
"""

from __future__ import annotations

import copy
from typing import Any

_ACCOUNT: dict[str, Any] = {
    "id": "acc.sample.1",
    "customerId": "cus.sample.1",
    "name": "Sample Account",
    "primaryEmail": "billing@sample.example",
    "invoiceCurrency": "INR",
    "address": {"phoneNumber": "+919876543210", "country": "IN"},
    "status": "ACTIVE",
}
_TOGAI_INVOICE: dict[str, Any] = {
    "id": "inv.sample.1",
    "ownerId": "acc.sample.1",
    "sequenceId": "2026-11-0001",
    "status": "DUE",
    "totalAmount": 881.94,
    "paidAmount": 0,
}
_RAZORPAY_INVOICE: dict[str, Any] = {
    "id": "inv_Sample0000001",
    "entity": "invoice",
    "receipt": "inv.sample.1",
    "customer_id": "cust_Sample000001",
    "status": "paid",
    "amount": 88194,
    "amount_paid": 88194,
    "amount_due": 0,
    "currency": "INR",
    "notes": {"togai_invoice_id": "inv.sample.1", "togai_account_id": "acc.sample.1"},
}
_PAYMENT: dict[str, Any] = {
    "id": "pay_Sample0000001",
    "entity": "payment",
    "amount": 88194,
    "currency": "INR",
    "status": "captured",
    "method": "upi",
    "invoice_id": "inv_Sample0000001",
    "order_id": "order_Sample00001",
    "created_at": 1764115200,
}

SAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("togai", "account.created"): {"account": _ACCOUNT},
    ("togai", "invoice.generated"): {"invoice": _TOGAI_INVOICE, "account": _ACCOUNT},
    ("togai", "invoice.voided"): {
        "invoice": {**_TOGAI_INVOICE, "status": "VOID"},
        "account": _ACCOUNT,
    },
    ("razorpay", "invoice.paid"): {
        "event": "invoice.paid",
        "invoice": _RAZORPAY_INVOICE,
        "payment": _PAYMENT,
    },
    ("razorpay", "invoice.partially_paid"): {
        "event": "invoice.partially_paid",
        "invoice": {
            **_RAZORPAY_INVOICE,
            "status": "partially_paid",
            "amount_paid": 40000,
            "amount_due": 48194,
        },
        "payment": {**_PAYMENT, "amount": 40000},
    },
    ("razorpay", "invoice.expired"): {
        "event": "invoice.expired",
        "invoice": {**_RAZORPAY_INVOICE, "status": "expired", "amount_paid": 0},
    },
    ("razorpay", "payment.captured"): {"event": "payment.captured", "payment": _PAYMENT},
    ("razorpay", "payment_link.paid"): {
        "event": "payment_link.paid",
        "payment_link": {
            "id": "plink_Sample00001",
            "amount": 88194,
            "currency": "INR",
            "status": "paid",
            "reference_id": "inv.sample.1",
        },
        "payment": _PAYMENT,
    },
    ("razorpay", "refund.processed"): {
        "event": "refund.processed",
        "refund": {
            "id": "rfnd_Sample00001",
            "payment_id": "pay_Sample0000001",
            "amount": 10000,
            "currency": "INR",
            "status": "processed",
        },
        "payment": _PAYMENT,
    },
}


def sample(app: str, trigger: str) -> dict[str, Any]:
    """A deep copy of the sample for (app, trigger); {} when there is none."""
    return copy.deepcopy(SAMPLES.get((app, trigger), {}))
