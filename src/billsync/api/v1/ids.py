"""Bounds of numeric ids in paths and queries: the largest a BIGINT column holds."""

from __future__ import annotations

from datetime import UTC, datetime

MAX_ID = 2**63 - 1


def as_utc(when: datetime | None) -> datetime | None:
    """Query timestamps without an offset are read as UTC."""
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=UTC)
