"""Inbox events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from billsync.api.schemas.runs import RunPublic
from billsync.app.events import EventDetail
from billsync.store.models import Event


class EventPublic(BaseModel):
    id: int
    connection_id: int
    trigger: str | None
    event_type: str
    external_id: str
    entity_key: str
    status: str
    occurred_at: datetime | None
    received_at: datetime

    @classmethod
    def of(cls, event: Event) -> EventPublic:
        return cls(
            id=event.id,
            connection_id=event.connection_id,
            trigger=event.trigger,
            event_type=event.event_type,
            external_id=event.external_id,
            entity_key=event.entity_key,
            status=event.status,
            occurred_at=event.occurred_at,
            received_at=event.received_at,
        )


class EventDetailPublic(EventPublic):
    payload: dict[str, Any]
    runs: list[RunPublic]

    @classmethod
    def of_detail(cls, detail: EventDetail) -> EventDetailPublic:
        base = EventPublic.of(detail.event).model_dump()
        return cls(
            **base,
            payload=dict(detail.event.payload),
            runs=[RunPublic.of(r) for r in detail.runs],
        )
