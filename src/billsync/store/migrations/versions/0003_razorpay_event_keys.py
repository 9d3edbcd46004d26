"""Re-key stored Razorpay events by their signed content instead of X-Razorpay-Event-Id.

Until now a Razorpay event was deduplicated on the unsigned X-Razorpay-Event-Id header, so
a correctly signed body re-sent under another id was stored again; and the catch-up poller,
which never sees an event id, could not collide with a webhook. The key is now derived
from the body (connectors/razorpay/event.py). Stored events get the key they would get
today, so a Razorpay retry of an event already stored, or a catch-up poll of a payment
already recorded, creates nothing new after the upgrade.

The rule is copied here rather than imported: a migration must keep doing what it did
when it was written. A row whose new key another row of its connection already holds (the
same event stored twice under two event ids: the bug this fixes) keeps its old key.
Downgrading leaves the keys as they are (the old code only ever compared new deliveries'
header ids against them).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from billsync.store.columns import JSONType, UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000
_MAX_KEY = 255
_PAYMENT_EVENTS = frozenset(
    {
        "invoice.paid",
        "invoice.partially_paid",
        "payment.authorized",
        "payment.captured",
        "payment.failed",
        "order.paid",
        "payment_link.paid",
        "payment_link.partially_paid",
    }
)
_ONCE_PER_ENTITY = {
    "invoice.expired": "invoice",
    "refund.created": "refund",
    "refund.processed": "refund",
    "refund.failed": "refund",
    "payment_link.cancelled": "payment_link",
    "payment_link.expired": "payment_link",
}


def _keyed(event_type: str, entities: Mapping[str, Mapping[str, Any]], name: str) -> str | None:
    entity = entities.get(name)
    value = entity.get("id") if entity is not None else None
    return f"{event_type}:{value}" if isinstance(value, str) and value else None


def _key(event_type: str, payload: Mapping[str, Any], occurred_at: datetime | None) -> str:
    entities = {
        name: value
        for name, value in payload.items()
        if name not in ("event", "account_id") and isinstance(value, dict)
    }
    key: str | None = None
    if event_type in _PAYMENT_EVENTS:
        key = _keyed(event_type, entities, "payment")
    elif event_type in _ONCE_PER_ENTITY:
        key = _keyed(event_type, entities, _ONCE_PER_ENTITY[event_type])
    if key is None:
        ids = ",".join(
            f"{name}={entity.get('id')}"
            for name, entity in sorted(entities.items())
            if entity.get("id")
        )
        created = int(occurred_at.timestamp()) if occurred_at is not None else ""
        key = f"{event_type}:{ids}@{created}"
    if len(key) > _MAX_KEY:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        key = f"{event_type[: _MAX_KEY - 72]}:sha256:{digest}"
    return key


def upgrade() -> None:
    bind = op.get_bind()
    connection = sa.table("connection", sa.column("id"), sa.column("app", sa.String))
    event = sa.table(
        "event",
        sa.column("id"),
        sa.column("connection_id"),
        sa.column("event_type", sa.String),
        sa.column("external_id", sa.String),
        sa.column("payload", JSONType),
        sa.column("occurred_at", UTCDateTime),
    )
    razorpay = sa.select(connection.c.id).where(connection.c.app == "razorpay")
    ours = event.c.connection_id.in_(razorpay)
    taken = {
        (row.connection_id, row.external_id)
        for row in bind.execute(sa.select(event.c.connection_id, event.c.external_id).where(ours))
    }
    last = 0
    while True:
        rows = bind.execute(
            sa.select(
                event.c.id,
                event.c.connection_id,
                event.c.event_type,
                event.c.external_id,
                event.c.payload,
                event.c.occurred_at,
            )
            .where(ours, event.c.id > last)
            .order_by(event.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            last = row.id
            payload = row.payload if isinstance(row.payload, dict) else {}
            new = _key(row.event_type, payload, row.occurred_at)
            if new == row.external_id or (row.connection_id, new) in taken:
                continue
            bind.execute(sa.update(event).where(event.c.id == row.id).values(external_id=new))
            taken.add((row.connection_id, new))


def downgrade() -> None:
    pass
