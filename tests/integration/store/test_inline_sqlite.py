"""SQLite statements run on the event loop's thread (store/inline_sqlite.py), with the
behaviour aiosqlite had: results, errors, rollbacks, and one writer at a time. And the
aiosqlite internals InlineConnection overrides still exist and are still the only way in:
those checks fail first, with a message saying so, when an aiosqlite release changes them."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from billsync.store.database import Database
from billsync.store.inline_sqlite import InlineConnection
from billsync.store.models import AuditLog

_PINNED = "store/inline_sqlite.py; fix it or pin aiosqlite below this release in pyproject.toml"


def _audit(actor: str) -> AuditLog:
    return AuditLog(at=datetime.now(UTC), actor=actor, action="a", target="t", detail={})


async def test_no_worker_threads_and_results_round_trip(tmp_path: Path) -> None:
    before = threading.active_count()
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    try:
        await db.migrate()
        async with db.write() as session:
            session.add_all([_audit("one"), _audit("two")])
        async with db.read() as session:
            actors = (await session.execute(sa.select(AuditLog.actor))).scalars().all()
        # aiosqlite would have started one thread per pooled connection.
        assert threading.active_count() == before
        assert sorted(actors) == ["one", "two"]
    finally:
        await db.dispose()


async def test_error_rolls_back_and_the_connection_stays_usable(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    try:
        await db.migrate()
        async with db.write() as session:
            session.add(_audit("kept"))
        with pytest.raises(IntegrityError):
            async with db.write() as session:
                session.add(_audit("lost"))
                await session.flush()
                # a NOT NULL column left empty: the whole transaction must roll back
                await session.execute(sa.insert(AuditLog).values(actor=None, action="a"))
        async with db.read() as session:
            actors = (await session.execute(sa.select(AuditLog.actor))).scalars().all()
        assert actors == ["kept"]
    finally:
        await db.dispose()


async def test_concurrent_writers_serialise_without_busy_errors(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    try:
        await db.migrate()

        async def writer(i: int) -> None:
            async with db.write() as session:
                session.add(_audit(f"w{i}"))
                await asyncio.sleep(0)  # yield while holding the write transaction
                await session.flush()

        await asyncio.gather(*(writer(i) for i in range(50)))
        async with db.read() as session:
            count = (await session.execute(sa.select(sa.func.count(AuditLog.id)))).scalar_one()
        assert count == 50
    finally:
        await db.dispose()


async def test_a_write_waits_for_another_process_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "inline.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)  # stands in for another process
    try:
        await db.migrate()
        other.execute("BEGIN IMMEDIATE")
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        async def write() -> None:
            async with db.write() as session:
                session.add(_audit("after the other writer"))

        ticking = asyncio.create_task(ticker())
        asyncio.get_running_loop().call_later(0.3, other.execute, "COMMIT")
        started = time.monotonic()
        await write()
        waited = time.monotonic() - started
        ticking.cancel()
        assert waited >= 0.25  # it did wait for the other writer's lock
        # ~60 ticks in 0.3 s if the loop stayed free; SQLite's busy handler would give ~1
        assert ticks >= 20
        async with db.read() as session:
            actors = (await session.execute(sa.select(AuditLog.actor))).scalars().all()
        assert actors == ["after the other writer"]
    finally:
        other.close()
        await db.dispose()


async def test_a_write_gives_up_after_busy_seconds_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "inline.db"
    db = Database(f"sqlite+aiosqlite:///{path}", busy_seconds=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        await db.migrate()
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(OperationalError, match="database is locked"):
            async with db.write() as session:
                session.add(_audit("never"))
        other.execute("COMMIT")
        async with db.write() as session:  # the pool's connections are still usable
            session.add(_audit("later"))
        async with db.read() as session:
            actors = (await session.execute(sa.select(AuditLog.actor))).scalars().all()
        assert actors == ["later"]
    finally:
        other.close()
        await db.dispose()


def test_aiosqlite_still_has_what_inline_connection_overrides() -> None:
    # InlineConnection sets _tx, reads and sets _connection and _running, calls _connector,
    # and replaces _execute (every call funnels through it), stop and __await__;
    # SQLAlchemy's adapter reads _conn and _connection and feeds _tx directly.
    plain = aiosqlite.Connection(lambda: sqlite3.connect(":memory:"), iter_chunk_size=64)
    missing = [n for n in ("_tx", "_connection", "_running", "_connector") if not hasattr(plain, n)]
    missing += [
        n
        for n in ("_execute", "_conn", "stop", "__await__")
        if not hasattr(aiosqlite.Connection, n)
    ]
    assert not missing, f"aiosqlite {aiosqlite.__version__} has no Connection.{missing}: {_PINNED}"
    assert asyncio.iscoroutinefunction(aiosqlite.Connection._execute), _PINNED


async def test_every_call_sqlalchemy_makes_runs_inline() -> None:
    # sqlite3 refuses a connection used from another thread (check_same_thread): a call that
    # bypassed InlineConnection._execute for aiosqlite's worker thread fails here, loudly.
    before = threading.active_count()
    conn = await InlineConnection(lambda: sqlite3.connect(":memory:", isolation_level=None))
    try:
        assert conn.sqlite is not None
        await conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
        cursor = await conn.cursor()  # SQLAlchemy's adapter: cursor, execute, fetch, close
        await cursor.execute("BEGIN")
        await cursor.executemany("INSERT INTO t (name) VALUES (?)", [("a",), ("b",), ("c",)])
        await cursor.execute("SELECT name FROM t ORDER BY id")
        assert await cursor.fetchone() == ("a",)
        assert await cursor.fetchmany(1) == [("b",)]
        assert await cursor.fetchall() == [("c",)]
        await cursor.close()
        assert conn.in_transaction
        await conn.rollback()
        assert (await conn.execute_fetchall("SELECT count(*) FROM t")) == [(0,)]
        await conn.execute("INSERT INTO t (name) VALUES ('kept')")
        await conn.commit()
        # what SQLAlchemy's isolation_level setter does: a request straight into _tx
        future = asyncio.get_running_loop().create_future()
        conn._tx.put_nowait((future, lambda: "ran"))
        assert future.done() and future.result() == "ran", f"_tx.put_nowait: {_PINNED}"
        assert threading.active_count() == before, f"aiosqlite started a thread: {_PINNED}"
    finally:
        await conn.close()
    with pytest.raises(ValueError, match="no active connection|Connection closed"):
        await conn.execute("SELECT 1")
