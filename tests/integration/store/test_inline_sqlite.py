"""SQLite statements run on the event loop's thread (store/inline_sqlite.py), with the
behaviour aiosqlite had: results, errors, rollbacks, and one writer at a time."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from billsync.store.database import Database
from billsync.store.models import AuditLog


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
