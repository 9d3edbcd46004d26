"""The sandbox's in-memory world: every entity by id, plus the indexes the API needs."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from billsync.sandbox.common.ids import IdGenerator
from billsync.sandbox.razorpay.config import RazorpaySandboxConfig

Entity = dict[str, Any]
# (event name, {payload key: entity snapshot}) → queued for webhook delivery
EventSink = Callable[[str, dict[str, Entity]], None]


def _drop(event: str, payload: dict[str, Entity]) -> None:
    """Default sink until the app wires webhook delivery in."""


class State:
    """Entities are dicts in their wire shape, so a fetch is a lookup and a dump."""

    def __init__(self, config: RazorpaySandboxConfig) -> None:
        self.config = config
        self.emit: EventSink = _drop
        self.ids = IdGenerator(config.seed)
        self.reset()

    def new_id(self, prefix: str) -> str:
        return self.ids.new(prefix + "_")

    def short_url(self) -> str:
        return "https://rzp.io/i/" + self.ids.token(7)

    def reset(self) -> None:
        self.customers: dict[str, Entity] = {}
        self.invoices: dict[str, Entity] = {}
        self.orders: dict[str, Entity] = {}
        self.payments: dict[str, Entity] = {}
        self.refunds: dict[str, Entity] = {}
        self.payment_links: dict[str, Entity] = {}
        self.customer_by_pair: dict[tuple[str | None, str | None], str] = {}
        self.invoice_by_order: dict[str, str] = {}
        # receipt -> ids of the invoices carrying it (GET /v1/invoices?receipt= is a hot path:
        # billsync looks a receipt up before every create); rank = creation order.
        self.invoices_by_receipt: dict[str, dict[str, None]] = {}
        self.invoice_rank: dict[str, int] = {}
        self.link_by_order: dict[str, str] = {}
        self.link_by_reference: dict[str, str] = {}
        self.payments_by_order: dict[str, list[str]] = {}
        self.refunds_by_payment: dict[str, list[str]] = {}
        # idempotency key -> ((payment id, body), refund id)
        self.refund_by_key: dict[str, tuple[tuple[str, Entity], str]] = {}
        # Not part of the invoice entity: Razorpay shows only the resulting sms/email_status.
        self.invoice_notify: dict[str, dict[str, bool]] = {}
        # Heap of (expire_by, kind, id); see expiry.py.
        self.expiries: list[tuple[int, str, str]] = []

    def schedule_expiry(self, kind: str, entity: Entity) -> None:
        """Expire `entity` at its expire_by (expiry.sweep); a later change re-schedules it."""
        if self.config.auto_expire and entity["expire_by"]:
            heapq.heappush(self.expiries, (entity["expire_by"], kind, entity["id"]))

    def now(self) -> int:
        return int(self.config.clock())

    def counts(self) -> dict[str, int]:
        return {
            "customer": len(self.customers),
            "invoice": len(self.invoices),
            "order": len(self.orders),
            "payment": len(self.payments),
            "refund": len(self.refunds),
            "payment_link": len(self.payment_links),
        }
