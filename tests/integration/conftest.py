"""Integration fixtures: a migrated database on SQLite and on PostgreSQL.

Every PostgreSQL test gets its own schema (search_path set through the URL), created and
dropped around the test, so the suite can run repeatedly and in parallel on one database.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from billsync.clock import FakeClock
from billsync.store.database import Database
from billsync.store.vault import Vault


async def _pg_schema_database(base_url: str) -> tuple[Database, str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(base_url)
    try:
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    finally:
        await admin.dispose()
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return Database(url.render_as_string(hide_password=False)), schema


async def _drop_pg_schema(base_url: str, schema: str) -> None:
    admin = create_async_engine(base_url)
    try:
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
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


@pytest.fixture
async def db(empty_db: Database) -> Database:
    """A database migrated to head."""
    await empty_db.migrate()
    return empty_db


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def vault() -> Vault:
    return Vault([Vault.generate_key()])
