"""Razorpay triggers and the shapes of their payloads (what flows see as `event`).

Payload = {"event", "account_id", <entity name>: <entity>} for every entity the webhook
carries (catalogue.md). All arrive by webhook. Razorpay has no event list, but the payment
triggers are also polled: the catch-up walk over GET /v1/payments (poller.py) rebuilds the
event a lost webhook would have made (no `account_id` there: the API does not show it).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from billsync.connectors.razorpay import models
from billsync.connectors.spec import TriggerSpec


class EventPayload(BaseModel):
    model_config = ConfigDict(extra="allow")

    event: str
    account_id: str | None = None


class InvoicePaymentPayload(EventPayload):
    invoice: models.Invoice
    payment: models.Payment
    order: models.Order | None = None


class InvoiceExpiredPayload(EventPayload):
    invoice: models.Invoice


class PaymentPayload(EventPayload):
    payment: models.Payment


class PaymentLinkPaidPayload(EventPayload):
    payment_link: models.PaymentLink
    payment: models.Payment
    order: models.Order | None = None


class RefundPayload(EventPayload):
    refund: models.Refund
    payment: models.Payment | None = None


TRIGGERS: tuple[TriggerSpec, ...] = (
    TriggerSpec(
        "invoice.paid",
        "Invoice paid",
        "A Razorpay invoice was paid in full (payload: invoice, payment, order).",
        InvoicePaymentPayload,
        polling=True,
    ),
    TriggerSpec(
        "invoice.partially_paid",
        "Invoice partially paid",
        "A payment covered part of a Razorpay invoice (payload: invoice, payment, order).",
        InvoicePaymentPayload,
        polling=True,
    ),
    TriggerSpec(
        "invoice.expired",
        "Invoice expired",
        "A Razorpay invoice passed its expire_by date unpaid (payload: invoice).",
        InvoiceExpiredPayload,
    ),
    TriggerSpec(
        "payment.captured",
        "Payment captured",
        "A payment was captured (payload: payment).",
        PaymentPayload,
        polling=True,
    ),
    TriggerSpec(
        "payment_link.paid",
        "Payment link paid",
        "A payment link was paid in full (payload: payment_link, payment, order).",
        PaymentLinkPaidPayload,
        polling=True,
    ),
    TriggerSpec(
        "refund.processed",
        "Refund processed",
        "A refund reached the customer (payload: refund, payment).",
        RefundPayload,
    ),
)
