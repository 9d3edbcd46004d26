"""Preview-only output fields exist in a dry run's output and not in a real run's
(issue #12, item 8: a real run never shows `"would_send": null`)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from billsync.connectors.razorpay.customer import CustomerOutput
from billsync.connectors.razorpay.invoice import CreateInvoiceOutput
from billsync.connectors.razorpay.payment_link import CreatePaymentLinkOutput

REAL: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (CustomerOutput, {"customer_id": "cust_1", "source": "created"}),
    (
        CreateInvoiceOutput,
        {
            "invoice_id": "inv_1",
            "status": "issued",
            "amount": 100,
            "currency": "INR",
            "source": "created",
        },
    ),
    (CreatePaymentLinkOutput, {"payment_link_id": "plink_1", "status": "created"}),
]


@pytest.mark.parametrize(("model", "fields"), REAL, ids=lambda v: getattr(v, "__name__", ""))
def test_would_send_only_in_a_preview(model: type[BaseModel], fields: dict[str, Any]) -> None:
    real = model.model_validate(fields).model_dump(mode="json")
    assert "would_send" not in real
    previewed = model.model_validate(
        {**fields, "source": "preview", "would_send": {"name": "Acme"}}
    ).model_dump(mode="json")
    assert previewed["would_send"] == {"name": "Acme"}
