"""store.prepared.run: the SQLite shortcut returns what session.execute returns, raises
SQLAlchemy's exceptions, sees pending ORM changes, and falls back where it must; and it sends
the driver exactly what session.execute sends (SQL and processed parameters), which is what
breaks first when a SQLAlchemy release changes the compiler attributes prepared.py reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.compiler import SQLCompiler

from billsync.store import dialect, prepared
from billsync.store.database import Database
from billsync.store.models import AuditLog

_LOG: sa.Table = AuditLog.__table__  # type: ignore[assignment]
_INSERT = sa.insert(_LOG).returning(_LOG.c.id)
_RENAME = sa.update(_LOG).where(_LOG.c.actor == sa.bindparam("old")).values(actor=sa.bindparam("b"))
_ACTORS = (
    sa.select(_LOG.c.id, _LOG.c.actor)
    .where(_LOG.c.action == sa.bindparam("action"))
    .order_by(_LOG.c.id)
)
_IN = sa.select(_LOG.c.id).where(_LOG.c.id.in_(sa.bindparam("ids", expanding=True)))
_AT = sa.select(_LOG.c.at, _LOG.c.detail).where(_LOG.c.id == sa.bindparam("id"))
#: an IN list whose values are part of the statement
_FIXED_IN = sa.select(_LOG.c.id).where(_LOG.c.actor.in_(["amy", "bob"])).order_by(_LOG.c.id)


def _row(actor: str, action: str = "a") -> dict[str, object]:
    return {
        "at": datetime(2026, 11, 26, 12, tzinfo=UTC),
        "actor": actor,
        "action": action,
        "target": "t",
        "detail": {"k": [1, "two"]},
    }


async def test_results_match_session_execute(db: Database) -> None:
    async with db.write() as session:
        first = (await prepared.run(session, _INSERT, _row("ann"))).scalar_one()
        second = (await prepared.run(session, _INSERT, _row("bob"))).scalar_one()
        renamed = await prepared.run(session, _RENAME, {"old": "ann", "b": "amy"})
        assert renamed.rowcount == 1
        missing = await prepared.run(session, _RENAME, {"old": "nobody", "b": "x"})
        assert missing.rowcount == 0
    async with db.read() as session:
        result = await prepared.run(session, _ACTORS, {"action": "a"})
        # the shortcut, on sqlite3 or psycopg
        assert isinstance(result, prepared.Rows)
        fast = result.all()
        slow = (await session.execute(_ACTORS, {"action": "a"})).all()
        assert (
            [tuple(r) for r in fast]
            == [tuple(r) for r in slow]
            == [(first, "amy"), (second, "bob")]
        )
        # IN lists the caller passes take the regular path; same answers
        in_list = await prepared.run(session, _IN, {"ids": [second]})
        assert not isinstance(in_list, prepared.Rows)
        assert list(in_list.scalars().all()) == [second]
        # IN lists fixed in the statement and converted columns take the shortcut
        fixed = await prepared.run(session, _FIXED_IN, {})
        assert isinstance(fixed, prepared.Rows)
        assert fixed.scalars().all() == [first, second]  # scalars, not 1-tuples
        at = await prepared.run(session, _AT, {"id": first})
        assert isinstance(at, prepared.Rows)
        assert tuple(at.first()) == (
            datetime(2026, 11, 26, 12, tzinfo=UTC),
            {"k": [1, "two"]},
        )
        # JSON written through the shortcut reads back through the ORM
        [entry] = (await session.execute(sa.select(AuditLog).where(AuditLog.id == first))).scalars()
        assert entry.detail == {"k": [1, "two"]}


async def test_errors_are_sqlalchemy_errors_and_roll_back(db: Database) -> None:
    with pytest.raises(IntegrityError):
        async with db.write() as session:
            await prepared.run(session, _INSERT, _row("kept?"))
            await prepared.run(session, _INSERT, {**_row("bad"), "actor": None})
    async with db.read() as session:
        assert (await prepared.run(session, _ACTORS, {"action": "a"})).all() == []


async def test_pending_orm_changes_are_flushed_first(db: Database) -> None:
    async with db.write() as session:
        session.add(AuditLog(**_row("pending", action="p")))
        rows = (await prepared.run(session, _ACTORS, {"action": "p"})).all()
        assert [r[1] for r in rows] == ["pending"]


#: statements of each kind the store passes to prepared.run, with parameters
_SHAPES: dict[str, tuple[prepared.Statement, dict[str, object]]] = {
    "insert returning, JSON and timestamp parameters": (_INSERT, _row("ann")),
    "update with a CASE and typed parameters": (
        sa.update(_LOG)
        .where(_LOG.c.actor == sa.bindparam("old"))
        .values(
            actor=sa.case((_LOG.c.action == "a", sa.bindparam("b")), else_=_LOG.c.actor),
            at=sa.bindparam("b_at", type_=_LOG.c.at.type),
        ),
        {"old": "ann", "b": "amy", "b_at": datetime(2026, 12, 1, tzinfo=UTC)},
    ),
    "select with a fixed IN list": (_FIXED_IN, {}),
    "select with converted result columns": (_AT, {"id": 1}),
}


def _comparable(parameters: object) -> object:
    """Parameters as values: a list for positional ones, and psycopg's JSON wrappers (which
    compare by identity) as their type name and content."""

    def value(v: object) -> object:
        if type(v).__module__.startswith("psycopg"):
            return (type(v).__name__, getattr(v, "obj", v))
        return v

    if isinstance(parameters, dict):
        return {name: value(v) for name, v in parameters.items()}
    assert isinstance(parameters, tuple | list)
    return [value(v) for v in parameters]


@pytest.mark.parametrize("shape", list(_SHAPES))
async def test_the_shortcut_sends_what_session_execute_sends(db: Database, shape: str) -> None:
    stmt, params = _SHAPES[shape]
    sent: list[tuple[str, object]] = []

    def capture(_c: object, _cur: object, sql: str, parameters: object, *_: object) -> None:
        sent.append((sql, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with db.write() as session:
            await session.execute(stmt, params)
            the_dialect = (await session.connection()).dialect
            name = the_dialect.name
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    plan = prepared._plan(stmt, frozenset(params), the_dialect)
    assert plan is not None, f"store/prepared.py no longer takes its shortcut on {name}: {shape}"
    sql, parameters = sent[-1]
    ours, theirs = _comparable(plan.args(params)), _comparable(parameters)
    assert (plan.sql, ours) == (sql, theirs), (
        f"store/prepared.py builds other SQL or parameters than session.execute on {name} "
        f"({shape}): the SQLAlchemy compiler attributes it reads (SQLCompiler.positiontup, "
        "binds, bind_names, post_compile_params, construct_expanded_state, the types' "
        "bind_processor) changed meaning; fix it or pin SQLAlchemy below this release"
    )


def test_the_compiler_attributes_prepared_reads_exist() -> None:
    compiled = _FIXED_IN.compile(dialect=sa.create_engine("sqlite://").dialect)
    assert isinstance(compiled, SQLCompiler)
    read = (
        "string positiontup binds bind_names post_compile_params literal_execute_params "
        "insert_prefetch update_prefetch construct_params construct_expanded_state"
    ).split()
    missing = [name for name in read if not hasattr(compiled, name)]
    assert not missing, (
        f"SQLAlchemy {sa.__version__}: SQLCompiler has no {missing}, which store/prepared.py "
        "reads; fix prepared.py or pin SQLAlchemy below this release in pyproject.toml"
    )
    exported = [column.name for column in _AT.exported_columns]
    assert exported == ["at", "detail"], "store/prepared.py reads result types from these"


async def test_on_conflict_statements_take_the_shortcut(db: Database) -> None:
    async with db.write() as session:
        stmt = dialect.insert_if_new(_LOG)[session.get_bind().dialect.name]
        first = await prepared.run(session, stmt, _row("once"))
        assert isinstance(first, prepared.Rows)
        assert first.scalar_one() is not None
