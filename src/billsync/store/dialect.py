"""The few statements that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def insert(session: AsyncSession, table: Any) -> Any:
    """An INSERT that supports ON CONFLICT on the session's backend."""
    if name(session) == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_if_new(table: Any, index_elements: list[str] | None = None) -> dict[str, Any]:
    """Dialect name -> INSERT ... ON CONFLICT (index_elements, else any unique constraint)
    DO NOTHING RETURNING id, values keyed by column: built once per backend, so the prepared
    shortcut (store/prepared.py) can cache it."""
    return {
        backend.dialect.name: backend.insert(table)
        .on_conflict_do_nothing(index_elements=index_elements)
        .returning(table.c.id)
        for backend in (sqlite, postgresql)
    }


def rowcount(result: object) -> int:
    """Rows an UPDATE or DELETE matched (the async Result type does not declare rowcount)."""
    return int(getattr(result, "rowcount", 0) or 0)
