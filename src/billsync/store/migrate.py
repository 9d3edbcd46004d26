"""Alembic, driven from code: the migrations ship inside the package, no alembic.ini needed.

Developers generating a new revision can use `alembic_config()` with alembic's command API
(`command.revision(cfg, autogenerate=True, message=...)`) against a scratch database.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection as SyncConnection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def ours(name: str | None, type_: str, _parents: object) -> bool:
    """Whether autogenerate compares this object with the models: procrastinate's tables
    (migration 0009 applies its own schema) are not modelled."""
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolation: a literal % in a password must be doubled.
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _upgrade(connection: SyncConnection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def _downgrade(connection: SyncConnection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


#: (namespace, key) of the advisory lock that serialises migrations on PostgreSQL ("bm", "mg":
#: not the liveness locks' namespace, store/liveness.py)
MIGRATION_LOCK = (0x626D, 0x6D67)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade to `revision`. On PostgreSQL, processes starting together (a serve and its
    workers after a release) take turns: each waits for a transaction-level advisory lock,
    so the first applies the migrations and the others find the database at head."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(:ns, :key)"),
                {"ns": MIGRATION_LOCK[0], "key": MIGRATION_LOCK[1]},
            )
        await conn.run_sync(_upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_downgrade, revision)
