"""SQLite statements run on the event loop's thread (store/inline_sqlite.py), with the
behaviour aiosqlite had: results, errors, rollbacks, and one writer at a time."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

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
