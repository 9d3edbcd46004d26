"""CPU cost of one database round trip the way billsync's store makes it (SQLAlchemy asyncio
ORM session over aiosqlite, `Database.read()`/`write()`), against the same statements on a
plain sqlite3 connection. Explains the sync burst's CPU per sync (docs/benchmarks.md).

    .venv/bin/python bench/db_statement_cost.py [--n 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from billsync.store.database import Database
from billsync.store.models import AuditLog


async def measure(name: str, n: int, step: Callable[[], Awaitable[None]]) -> None:
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        await step()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{name:48} {1000 * cpu / n:6.2f} ms CPU  {1000 * wall / n:6.2f} ms wall")


async def run(path: Path, n: int) -> None:
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.migrate()
    async with db.write() as session:
        session.add(AuditLog(at=datetime.now(UTC), actor="a", action="b", target="c", detail={}))

    async def read_get() -> None:
        async with db.read() as session:
            await session.get(AuditLog, 1, populate_existing=True)

    async def write_select_update() -> None:
        async with db.write() as session:
            (await session.execute(sa.select(AuditLog).where(AuditLog.id == 1))).scalar_one()
            await session.execute(sa.update(AuditLog).where(AuditLog.id == 1).values(actor="w"))

    try:
        await measure("read txn: session.get", n, read_get)
        await measure("write txn: ORM select + update", n, write_select_update)
    finally:
        await db.dispose()


def raw(path: Path, n: int) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA synchronous=NORMAL")
        cpu = time.process_time()
        for _ in range(n):
            con.execute("BEGIN IMMEDIATE")
            con.execute("SELECT * FROM audit_log WHERE id = 1").fetchall()
            con.execute("UPDATE audit_log SET actor = 'v' WHERE id = 1")
            con.execute("COMMIT")
        cpu = time.process_time() - cpu
    finally:
        con.close()
    print(f"{'write txn: plain sqlite3 select + update':48} {1000 * cpu / n:6.2f} ms CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="billsync-dbcost-"))
    try:
        asyncio.run(run(workdir / "cost.db", args.n))
        raw(workdir / "cost.db", args.n)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
