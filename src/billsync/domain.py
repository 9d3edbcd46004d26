"""Plain types shared by every layer: no I/O, no framework imports."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Direction(enum.StrEnum):
    OUTBOUND = "outbound"  #: Togai event → Razorpay actions
    INBOUND = "inbound"  #: Razorpay event → Togai actions


class LinkKind(enum.StrEnum):
    """Which pair of objects an id mapping links (Togai side ↔ Razorpay side)."""

    ACCOUNT_CUSTOMER = "account_customer"  #: Togai account id ↔ Razorpay customer id
    INVOICE_INVOICE = "invoice_invoice"  #: Togai invoice id ↔ Razorpay invoice id
    PAYMENT_PAYMENT = "payment_payment"  #: Togai payment id ↔ Razorpay payment id


class Side(enum.StrEnum):
    TOGAI = "togai"
    RAZORPAY = "razorpay"


@dataclass(frozen=True)
class IdLink:
    """One mapping row: unique on each side within its kind."""

    kind: LinkKind
    togai_id: str
    razorpay_id: str


@dataclass(frozen=True)
class IncomingEvent:
    """A trigger occurrence as parsed by a connector, before it is stored.

    `external_id` is the deduplication key, derived from what the provider vouches for, so a
    webhook and a poll that see the same change collide and a replay stores nothing new
    (Razorpay: event type + payment or entity id from the signed body; Togai: entity id +
    transition). `entity_key`
    orders runs: runs sharing it execute one after another (design invariant 6).
    `trigger` is None for event types no catalogue trigger knows: stored, then ignored.
    """

    trigger: str | None
    event_type: str
    external_id: str
    entity_key: str
    payload: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class Hint:
    """An unsigned webhook's claim that an entity changed (Togai signs nothing): stored,
    acknowledged, and later re-fetched by the connector (many hints per list call) into
    events. `hint` is the delivery's normalised event name ("" when it named none)."""

    kind: str
    entity_id: str
    hint: str = ""
    occurred_at: datetime | None = None
