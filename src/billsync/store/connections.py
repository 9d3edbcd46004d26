"""Connections: credentials per app instance. Secret values are encrypted by the Vault."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from billsync.store import dialect, prepared
from billsync.store.models import Connection
from billsync.store.vault import Vault

_UNSET: Any = object()


async def create(
    session: AsyncSession,
    vault: Vault,
    *,
    app: str,
    name: str,
    secrets: Mapping[str, str],
    now: datetime,
    options: Mapping[str, Any] | None = None,
    rate_limit: float | None = None,
    webhook_token: str | None = None,
) -> Connection:
    row = Connection(
        app=app,
        name=name,
        secrets=vault.encrypt(secrets),
        key_id=vault.key_id,
        options=dict(options or {}),
        webhook_token=vault.encrypt_text(webhook_token) if webhook_token else None,
        rate_limit=rate_limit,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def get(session: AsyncSession, connection_id: int) -> Connection | None:
    return await session.get(Connection, connection_id)


_CONNECTION: sa.Table = Connection.__table__  # type: ignore[assignment]
_APP_OF = sa.select(_CONNECTION.c.app).where(_CONNECTION.c.id == sa.bindparam("id"))


async def app_of(session: AsyncSession, connection_id: int) -> str | None:
    """The connection's app, or None if there is no such connection (one column: intake
    checks the connection still exists in the transaction that stores its events)."""
    result = await prepared.run(session, _APP_OF, {"id": connection_id})
    app: str | None = result.scalar_one_or_none()
    return app


async def by_name(session: AsyncSession, app: str, name: str) -> Connection | None:
    stmt = sa.select(Connection).where(Connection.app == app, Connection.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_all(session: AsyncSession, app: str | None = None) -> Sequence[Connection]:
    stmt = sa.select(Connection).order_by(Connection.app, Connection.name)
    if app is not None:
        stmt = stmt.where(Connection.app == app)
    return (await session.execute(stmt)).scalars().all()


async def update(
    session: AsyncSession,
    vault: Vault,
    connection_id: int,
    *,
    now: datetime,
    name: str | None = None,
    secrets: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
    rate_limit: float | None = _UNSET,
    webhook_token: str | None = _UNSET,
) -> Connection | None:
    """Change the given fields. `secrets` are merged: fields left out keep their value."""
    row = await get(session, connection_id)
    if row is None:
        return None
    if name is not None:
        row.name = name
    if secrets is not None:
        merged = {**vault.decrypt(row.secrets), **secrets}
        row.secrets = vault.encrypt(merged)
        row.webhook_token = (
            vault.rotate(row.webhook_token) if row.webhook_token else row.webhook_token
        )
        row.key_id = vault.key_id
    if options is not None:
        row.options = dict(options)
    if rate_limit is not _UNSET:
        row.rate_limit = rate_limit
    if webhook_token is not _UNSET:
        if webhook_token:
            row.secrets = vault.rotate(row.secrets)
            row.webhook_token = vault.encrypt_text(webhook_token)
            row.key_id = vault.key_id
        else:
            row.webhook_token = None
    row.updated_at = now
    await session.flush()
    return row


async def delete(session: AsyncSession, connection_id: int) -> bool:
    result = await session.execute(sa.delete(Connection).where(Connection.id == connection_id))
    return bool(dialect.rowcount(result))


def secret_values(vault: Vault, row: Connection) -> dict[str, str]:
    return vault.decrypt(row.secrets)


def values(vault: Vault, row: Connection) -> dict[str, str]:
    """Every field value of the connection (options and decrypted secrets): the input of
    AppSpec.make_client. Keep it in memory only."""
    merged = {k: str(v) for k, v in row.options.items() if v is not None}
    merged.update(vault.decrypt(row.secrets))
    return merged


def webhook_token(vault: Vault, row: Connection) -> str | None:
    return vault.decrypt_text(row.webhook_token) if row.webhook_token else None


async def rotate_secrets(session: AsyncSession, vault: Vault, *, now: datetime) -> int:
    """Re-encrypt every connection under the newest key; returns the rows rewritten."""
    rows = (await session.execute(sa.select(Connection))).scalars().all()
    for row in rows:
        row.secrets = vault.rotate(row.secrets)
        if row.webhook_token:
            row.webhook_token = vault.rotate(row.webhook_token)
        row.key_id = vault.key_id
        row.updated_at = now
    await session.flush()
    return len(rows)
