"""Prebuilt hot-path statements executed straight on the SQLite connection.

`run(session, stmt, params)` compiles `stmt` once per dialect and parameter set, then on
SQLite hands the SQL string and the processed parameters to the sqlite3 connection the
session's transaction already holds: no ORM execute path, execution context or result
object per statement, which was most of the store's CPU per sync (bench/store_hot_path.py).
Everything the shortcut cannot reproduce exactly goes through `session.execute` instead:
PostgreSQL, parameters expanded at execution (IN lists), column defaults computed in
Python, and result columns that need conversion (timestamps, JSON).

Pending ORM changes in the session are flushed first, as `session.execute` would.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Rows", "run"]


class Rows:
    """What a statement returned: the few Result methods the repositories use."""

    def __init__(self, rows: Sequence[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def all(self) -> list[Any]:
        return list(self._rows)

    def scalar_one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise sa.exc.MultipleResultsFound("more than one row where one was expected")
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        if len(self._rows) != 1:
            raise sa.exc.NoResultFound("exactly one row was expected")
        return self._rows[0][0]

    def scalars(self) -> Rows:
        return Rows([(row[0],) for row in self._rows], self.rowcount)

    def __iter__(self) -> Any:
        return iter(self._rows)


class _Plan:
    """A statement compiled for SQLite, or None when it must take the regular path."""

    __slots__ = ("compiled", "processors", "sql")

    def __init__(self, compiled: SQLCompiler) -> None:
        self.compiled = compiled
        self.sql = compiled.string
        # Tuple-valued (expanding) parameters never take this path: one callable each.
        self.processors = cast(Mapping[str, Callable[[Any], Any]], compiled._bind_processors)


Statement = sa.Select[Any] | sa.Update | sa.Insert | sa.Delete

#: (id of the statement, parameter names) -> (the statement, its plan). Keeping the
#: statement alive keeps its id from being reused by another object.
_plans: dict[tuple[int, frozenset[str]], tuple[Statement, _Plan | None]] = {}


def _plan(stmt: Statement, keys: frozenset[str], dialect: Dialect) -> _Plan | None:
    cache_key = (id(stmt), keys)
    cached = _plans.get(cache_key)
    if cached is not None and cached[0] is stmt:
        return cached[1]
    compiled = stmt.compile(dialect=dialect, column_keys=sorted(keys))
    assert isinstance(compiled, SQLCompiler)
    shortcut = (
        not compiled.post_compile_params
        and not compiled.literal_execute_params
        and not compiled.insert_prefetch
        and not compiled.update_prefetch
        and compiled.positiontup is not None
        and all(
            column[3]._cached_result_processor(dialect, None) is None
            for column in compiled._result_columns
        )
    )
    plan = _Plan(compiled) if shortcut else None
    _plans[cache_key] = (stmt, plan)  # callers pass module-level statements: a few entries
    return plan


async def run(session: AsyncSession, stmt: Statement, params: Mapping[str, Any]) -> Any:
    """Execute a prebuilt statement in the session's transaction; a Result or `Rows`."""
    connection = await session.connection()  # begins the transaction if it has not yet
    sync = connection.sync_connection
    raw = getattr(sync.connection.driver_connection, "sqlite", None) if sync else None
    if not isinstance(raw, sqlite3.Connection):
        return await session.execute(stmt, params)
    plan = _plan(stmt, frozenset(params), connection.dialect)
    if plan is None:
        return await session.execute(stmt, params)
    if session.new or session.deleted or session.dirty:
        await session.flush()
    values = plan.compiled.construct_params(dict(params))
    processors = plan.processors
    args = [
        processor(values[name]) if (processor := processors.get(name)) else values[name]
        for name in plan.compiled.positiontup or ()
    ]
    try:
        cursor = raw.execute(plan.sql, args)
        try:
            rows = cursor.fetchall() if cursor.description else []
            return Rows(rows, cursor.rowcount)
        finally:
            cursor.close()
    except sqlite3.Error as exc:
        # The exception classes callers (and the session's rollback) expect from SQLAlchemy.
        raise sa.exc.DBAPIError.instance(plan.sql, args, exc, sqlite3.Error) from exc
