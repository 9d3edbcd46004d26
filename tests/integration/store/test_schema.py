"""The migrations build exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from billsync.store import migrate
from billsync.store.database import Database
from billsync.store.models import Base


def _diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "include_name": migrate.ours}
    )
    return list(compare_metadata(context, Base.metadata))


@pytest.fixture
async def fresh(empty_db: Database) -> Database:
    """A schema of its own, migrated here (these tests also migrate down)."""
    await empty_db.migrate()
    return empty_db


async def test_migrated_schema_matches_models(fresh: Database) -> None:
    db = fresh
    async with db.engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == []


async def test_downgrade_to_base_then_upgrade_again(fresh: Database) -> None:
    db = fresh
    await migrate.downgrade(db.engine, "base")
    async with db.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    assert tables <= {"alembic_version"}
    await db.migrate()
    async with db.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_migrate_twice_is_a_no_op(fresh: Database) -> None:
    db = fresh
    await db.migrate()
    async with db.engine.connect() as conn:
        version = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).all()
    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    assert version == [(head,)]


async def test_sqlite_connections_use_wal_and_foreign_keys(db: Database) -> None:
    if not db.is_sqlite:
        return
    async with db.read() as session:
        journal = (await session.execute(sa.text("PRAGMA journal_mode"))).scalar()
        fks = (await session.execute(sa.text("PRAGMA foreign_keys"))).scalar()
        sync = (await session.execute(sa.text("PRAGMA synchronous"))).scalar()
        busy = (await session.execute(sa.text("PRAGMA busy_timeout"))).scalar()
    assert (journal, fks, sync, busy) == ("wal", 1, 1, 5000)


async def test_sqlite_write_sessions_take_the_write_lock_up_front(db: Database) -> None:
    """A write transaction holds the RESERVED lock from BEGIN, so a second writer waits
    instead of failing on upgrade; a read transaction does not block writers (WAL)."""
    if not db.is_sqlite:
        return
    path = db.sqlite_path
    assert path is not None
    async with db.write() as session:
        await session.execute(sa.text("SELECT 1"))
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            try:
                probe.execute("BEGIN IMMEDIATE")
                locked = False
                probe.execute("ROLLBACK")
            except sqlite3.OperationalError:
                locked = True
        finally:
            probe.close()
    assert locked
    async with db.read() as session:
        await session.execute(sa.text("SELECT 1 FROM run"))
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        finally:
            probe.close()


async def test_processes_migrating_at_once_take_turns(empty_db: Database) -> None:
    # Three processes (an engine each) starting on a fresh database together, as a serve and
    # its workers do after a release: each waits for the others, the first migrates.
    others = [Database(empty_db.url) for _ in range(2)]
    try:
        # Without turns, PostgreSQL's concurrent DDL deadlocked here (it hung).
        async with asyncio.timeout(120):
            await asyncio.gather(empty_db.migrate(), *(db.migrate() for db in others))
    finally:
        for db in others:
            await db.dispose()
    async with empty_db.engine.connect() as conn:
        version = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).all()
        assert await conn.run_sync(_diff) == []
    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    assert version == [(head,)]
