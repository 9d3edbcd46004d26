"""Integration fixtures: a migrated database on SQLite and on PostgreSQL.

PostgreSQL tests live in schemas of their own (search_path set through the URL), so runs can
repeat and several test processes can share one database. `db` uses one migrated schema per
test session, emptied before each test (migrating per test costs ~0.5 s on PostgreSQL);
`empty_db` is a fresh, unmigrated schema for the migration tests. All are dropped afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from billsync.clock import FakeClock
from billsync.store.database import Database
from billsync.store.models import Base
from billsync.store.vault import Vault


def _in_schema(base_url: str, schema: str) -> str:
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


async def _create_pg_schema(base_url: str) -> str:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(base_url)
    try:
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    finally:
        await admin.dispose()
    return schema


async def _pg_schema_database(base_url: str) -> tuple[Database, str]:
    schema = await _create_pg_schema(base_url)
    return Database(_in_schema(base_url, schema)), schema


async def _drop_pg_schema(base_url: str, schema: str) -> None:
    admin = create_async_engine(base_url)
    try:
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await admin.dispose()


class _MigratedSchemas:
    """One migrated PostgreSQL schema per base URL for the whole test session."""

    def __init__(self) -> None:
        self.schemas: dict[str, str] = {}

    async def get(self, base_url: str) -> str:
        if base_url not in self.schemas:
            schema = await _create_pg_schema(base_url)
            self.schemas[base_url] = schema
            db = Database(_in_schema(base_url, schema))
            try:
                await db.migrate()
            finally:
                await db.dispose()
        return self.schemas[base_url]

    def drop_all(self) -> None:
        for base_url, schema in self.schemas.items():
            asyncio.run(_drop_pg_schema(base_url, schema))


@pytest.fixture(scope="session")
def migrated_pg_schemas() -> Iterator[_MigratedSchemas]:
    schemas = _MigratedSchemas()
    try:
        yield schemas
    finally:
        schemas.drop_all()


async def _truncate_all(db: Database) -> None:
    names = [t.name for t in Base.metadata.sorted_tables]
    if not db.is_sqlite:  # procrastinate's queue (migration 0009), not in the models
        names += ["procrastinate_events", "procrastinate_periodic_defers"]
        names += ["procrastinate_jobs", "procrastinate_workers"]
    tables = ", ".join(f'"{name}"' for name in names)
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql(f"TRUNCATE TABLE {tables} RESTART IDENTITY CASCADE")


_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=_BACKENDS)
async def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database with no tables yet."""
    if request.param == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{quote(str(tmp_path / 'billsync.db'))}")
        try:
            yield db
        finally:
            await db.dispose()
        return
    base_url = request.getfixturevalue("postgres_url")
    db, schema = await _pg_schema_database(base_url)
    try:
        yield db
    finally:
        await db.dispose()
        await _drop_pg_schema(base_url, schema)


@pytest.fixture(params=_BACKENDS)
async def db(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_pg_schemas: _MigratedSchemas
) -> AsyncIterator[Database]:
    """A database migrated to head, with no rows."""
    if request.param == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{quote(str(tmp_path / 'billsync.db'))}")
        try:
            await db.migrate()
            yield db
        finally:
            await db.dispose()
        return
    base_url = request.getfixturevalue("postgres_url")
    db = Database(_in_schema(base_url, await migrated_pg_schemas.get(base_url)))
    try:
        await _truncate_all(db)
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def vault() -> Vault:
    return Vault([Vault.generate_key()])
