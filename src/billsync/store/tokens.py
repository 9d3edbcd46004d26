"""API tokens: only a SHA-256 digest is stored; the token is shown once at creation."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from billsync.store import dialect
from billsync.store.models import ApiToken

TOKEN_PREFIX = "bst_"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create(session: AsyncSession, name: str, *, now: datetime) -> tuple[ApiToken, str]:
    """A new token row and the plaintext token (return it to the user, never store it)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=digest(token), created_at=now)
    session.add(row)
    await session.flush()
    return row, token


#: last_used_at is kept to this precision: an API client polling every second would
#: otherwise turn every read request into a write transaction
TOUCH_INTERVAL = timedelta(seconds=60)


async def find_live(session: AsyncSession, token: str) -> ApiToken | None:
    """The live (unrevoked) token row matching `token`, or None."""
    wanted = digest(token)
    row = (
        await session.execute(sa.select(ApiToken).where(ApiToken.token_hash == wanted))
    ).scalar_one_or_none()
    # The lookup is by digest; compare again in constant time for good measure.
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.token_hash, wanted):
        return None
    return row


def due_for_touch(row: ApiToken, now: datetime) -> bool:
    """Whether last_used_at is older than TOUCH_INTERVAL (or unset)."""
    return row.last_used_at is None or now - row.last_used_at >= TOUCH_INTERVAL


async def touch(session: AsyncSession, token_id: int, *, now: datetime) -> None:
    await session.execute(
        sa.update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)
    )


async def authenticate(session: AsyncSession, token: str, *, now: datetime) -> ApiToken | None:
    """The live token row matching `token` (and mark it used, within TOUCH_INTERVAL), or
    None."""
    row = await find_live(session, token)
    if row is not None and due_for_touch(row, now):
        await touch(session, row.id, now=now)
    return row


async def revoke(session: AsyncSession, name: str, *, now: datetime) -> bool:
    result = await session.execute(
        sa.update(ApiToken)
        .where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(dialect.rowcount(result))


async def end_sessions(session: AsyncSession, name: str) -> bool:
    """Increment the token's session epoch: every UI session opened with it ends."""
    result = await session.execute(
        sa.update(ApiToken)
        .where(ApiToken.name == name)
        .values(session_epoch=ApiToken.session_epoch + 1)
    )
    return bool(dialect.rowcount(result))


async def list_all(session: AsyncSession) -> Sequence[ApiToken]:
    return (await session.execute(sa.select(ApiToken).order_by(ApiToken.id))).scalars().all()
