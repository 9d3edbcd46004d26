"""Prebuilt hot-path statements executed straight on the driver's connection.

`run(session, stmt, params)` compiles `stmt` once per dialect and parameter set, then hands
the SQL string and the processed parameters to the sqlite3 (SQLite) or psycopg
(PostgreSQL) connection the session's transaction already holds: no ORM execute path,
execution context or result object per statement, which was most of the store's CPU per
sync (bench/store_hot_path.py). Result columns are converted with their types' processors
(timestamps, booleans, JSON), and IN lists fixed in the statement (status sets) are
expanded once. Everything else the shortcut cannot reproduce exactly goes through
`session.execute` instead: other drivers, IN lists the caller passes (their length varies
per call) and column defaults computed in Python. Driver errors are raised as SQLAlchemy's
exception classes, as `session.execute` raises them.

Pending ORM changes in the session are flushed first, as `session.execute` would.

What it relies on: SQLAlchemy's compiler (`SQLCompiler.positiontup`, `binds`, `bind_names`,
`post_compile_params`, `construct_expanded_state`, the types' `bind_processor` and
`result_processor`), all public names but "Core internals" that a minor release may change.
So SQLAlchemy is pinned below the next minor in pyproject.toml, and
tests/integration/store/test_prepared.py checks that these names exist and that the SQL and
parameters built here are exactly those `session.execute` sends, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import SessionTransaction
from sqlalchemy.sql.compiler import ExpandedState, SQLCompiler

__all__ = ["Rows", "Scalars", "run"]


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

    def scalars(self) -> Scalars:
        return Scalars([row[0] for row in self._rows])

    def __iter__(self) -> Any:
        return iter(self._rows)


class Scalars:
    """The first column of each row, as ScalarResult gives it."""

    def __init__(self, values: list[Any]) -> None:
        self._values = values

    def all(self) -> list[Any]:
        return list(self._values)

    def first(self) -> Any:
        return self._values[0] if self._values else None

    def __iter__(self) -> Any:
        return iter(self._values)


class _Plan:
    """A statement compiled for the session's driver, ready to run on its connection."""

    __slots__ = ("compiled", "fixed", "named", "positions", "processors", "results", "skip", "sql")

    def __init__(
        self,
        compiled: SQLCompiler,
        stmt: Statement,
        dialect: Dialect,
        processors: Mapping[str, Callable[[Any], Any]],
        expanded: ExpandedState | None = None,
    ) -> None:
        self.compiled = compiled
        #: psycopg takes %(name)s parameters as a dict; sqlite3 takes ? as a list
        self.named = compiled.positiontup is None
        if expanded is None:
            self.sql = compiled.string
            self.positions: Sequence[str] = compiled.positiontup or ()
            self.processors = processors
            self.fixed: Mapping[str, Any] = {}
            self.skip: frozenset[str] = frozenset()
        else:
            # IN lists whose values are part of the statement (status sets): expanded once.
            self.sql = expanded.statement
            self.positions = expanded.positiontup or ()
            self.processors = {**processors, **expanded.processors}
            self.fixed = {
                name: value
                for name, value in expanded.parameters.items()
                if name not in compiled.binds
            }
            # the list-valued parameters the expansion replaced
            self.skip = frozenset(compiled.bind_names[b] for b in compiled.post_compile_params)
        # The statement's result columns are what the compiled SELECT / RETURNING lists, in
        # order (a count that differs fails loudly in `rows`, zip(strict=True)).
        results = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in stmt.exported_columns
        ]
        #: per result column, what turns the driver's value into the column type's (or None)
        self.results = results if any(results) else None

    def args(self, params: Mapping[str, Any]) -> list[Any] | dict[str, Any]:
        values = self.compiled.construct_params(dict(params))
        fixed = self.fixed
        processors = self.processors
        if self.named:
            named: dict[str, Any] = {}
            for source in (values, fixed):
                for name, value in source.items():
                    if name in self.skip:
                        continue
                    processor = processors.get(name)
                    named[name] = processor(value) if processor else value
            return named
        args = []
        for name in self.positions:
            value = fixed[name] if name in fixed else values[name]
            processor = processors.get(name)
            args.append(processor(value) if processor else value)
        return args

    def rows(self, rows: list[Any]) -> list[Any]:
        results = self.results
        if results is None:
            return rows
        return [
            tuple(
                convert(value) if convert else value
                for convert, value in zip(results, row, strict=True)
            )
            for row in rows
        ]


Statement = sa.Select[Any] | sa.Update | sa.Insert | sa.Delete

#: per session transaction, its sqlite3 or psycopg connection (None otherwise) and dialect:
#: asking the session for its connection is a greenlet round trip per statement
_targets: weakref.WeakKeyDictionary[SessionTransaction, tuple[Any, Dialect]]
_targets = weakref.WeakKeyDictionary()

#: (dialect, id of the statement, parameter names) -> (the statement, its plan). Keeping the
#: statement alive keeps its id from being reused by another object.
_plans: dict[tuple[str, int, frozenset[str]], tuple[Statement, _Plan | None]] = {}


def _plan(stmt: Statement, keys: frozenset[str], dialect: Dialect) -> _Plan | None:
    cache_key = (dialect.name, id(stmt), keys)
    cached = _plans.get(cache_key)
    if cached is not None and cached[0] is stmt:
        return cached[1]
    plan = _compile(stmt, keys, dialect)
    _plans[cache_key] = (stmt, plan)  # callers pass module-level statements: a few entries
    return plan


def _compile(stmt: Statement, keys: frozenset[str], dialect: Dialect) -> _Plan | None:
    compiled = stmt.compile(dialect=dialect, column_keys=sorted(keys))
    assert isinstance(compiled, SQLCompiler)
    if (
        compiled.literal_execute_params
        or compiled.insert_prefetch
        or compiled.update_prefetch
        or (compiled.positiontup is None and dialect.paramstyle != "pyformat")
        or any(isinstance(bind.type, sa.TupleType) for bind in compiled.bind_names)
    ):
        return None
    # What each parameter's type does to a value before the driver gets it.
    processors: dict[str, Callable[[Any], Any]] = {}
    for bind, name in compiled.bind_names.items():
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            processors[name] = processor
    if not compiled.post_compile_params:
        return _Plan(compiled, stmt, dialect, processors)
    if any(
        bind.key in keys or bind.callable is not None or not isinstance(bind.value, list | tuple)
        for bind in compiled.post_compile_params
    ):
        return None  # an IN list the caller passes: its length varies per call
    expanded = compiled.construct_expanded_state({key: None for key in keys})
    return _Plan(compiled, stmt, dialect, processors, expanded)


async def run(session: AsyncSession, stmt: Statement, params: Mapping[str, Any]) -> Any:
    """Execute a prebuilt statement in the session's transaction; a Result or `Rows`."""
    transaction = session.sync_session.get_transaction()
    target = _targets.get(transaction) if transaction is not None else None
    if target is None or not transaction.is_active:  # type: ignore[union-attr]
        connection = await session.connection()  # begins the transaction if it has not yet
        sync = connection.sync_connection
        driver = sync.connection.driver_connection if sync else None
        raw: Any = getattr(driver, "sqlite", None)
        if not isinstance(raw, sqlite3.Connection):
            raw = driver if _is_psycopg(driver) else None
        target = (raw, connection.dialect)
        transaction = session.sync_session.get_transaction()
        if transaction is not None:
            _targets[transaction] = target
    raw, dialect = target
    if raw is None:
        return await session.execute(stmt, params)
    plan = _plan(stmt, frozenset(params), dialect)
    if plan is None:
        return await session.execute(stmt, params)
    if session.new or session.deleted or session.dirty:
        await session.flush()
    args = plan.args(params)
    if isinstance(raw, sqlite3.Connection):
        return _run_sqlite(raw, plan, args)
    return await _run_psycopg(raw, plan, args)


def _run_sqlite(raw: sqlite3.Connection, plan: _Plan, args: Any) -> Rows:
    try:
        cursor = raw.execute(plan.sql, args)
        try:
            rows = plan.rows(cursor.fetchall()) if cursor.description else []
            return Rows(rows, cursor.rowcount)
        finally:
            cursor.close()
    except sqlite3.Error as exc:
        # The exception classes callers (and the session's rollback) expect from SQLAlchemy.
        raise sa.exc.DBAPIError.instance(plan.sql, args, exc, sqlite3.Error) from exc


def _is_psycopg(driver: object) -> bool:
    # By name: psycopg is the optional `postgres` extra, imported only where it is in use.
    kind = type(driver)
    return kind.__name__ == "AsyncConnection" and kind.__module__.split(".")[0] == "psycopg"


async def _run_psycopg(raw: Any, plan: _Plan, args: Any) -> Rows:
    import psycopg  # installed: the session's connection is a psycopg one

    try:
        async with raw.cursor() as cursor:
            await cursor.execute(plan.sql, args)
            rows = plan.rows(await cursor.fetchall()) if cursor.description else []
            return Rows(rows, cursor.rowcount)
    except psycopg.Error as exc:
        raise sa.exc.DBAPIError.instance(plan.sql, args, exc, psycopg.Error) from exc
