"""Bounds of numeric ids in paths and queries (MAX_ID), query timestamps."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from billsync.api.schemas.common import MAX_ID

__all__ = ["MAX_ID", "IsoDateTime", "as_utc"]


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_only(value: Any) -> Any:
    # pydantic would read a bare number ("0.5") as seconds since the epoch; the schema
    # says an ISO 8601 date-time, so that is all that is accepted.
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z")
    return value


#: A query timestamp: ISO 8601 only (offset optional: read as UTC).
IsoDateTime = Annotated[
    datetime,
    BeforeValidator(_iso_only),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def as_utc(when: datetime | None) -> datetime | None:
    """Query timestamps without an offset are read as UTC."""
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=UTC)
