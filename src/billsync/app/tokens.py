"""Admin API tokens: create (the plaintext is returned once), list, revoke, authenticate.

Only a SHA-256 digest is stored (store/tokens.py). Creating and revoking are recorded in
the audit log; authenticating is not (it happens on every request).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from billsync import errors
from billsync.app.root import App
from billsync.store import audit
from billsync.store import tokens as store
from billsync.store.models import ApiToken

#: Token names are shown in the audit log as "api:<name>".
MAX_NAME_LENGTH = 120


class TokenNameError(errors.SyncError):
    """The token name is empty, too long or already used."""


@dataclass(frozen=True)
class TokenInfo:
    """A token as faces show it: never the token or its digest."""

    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    #: UI sessions opened in another epoch are over (a logout increments it).
    session_epoch: int = 0

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        session_epoch=row.session_epoch or 0,
    )


async def create(app: App, name: str, *, actor: str = "cli") -> tuple[TokenInfo, str]:
    """A new token named `name` and its plaintext (show it once; it is not stored)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise TokenNameError(f"a token name must be 1 to {MAX_NAME_LENGTH} characters")
    now = app.clock.now()
    async with app.db.write() as session:
        if any(row.name == name for row in await store.list_all(session)):
            raise TokenNameError(f"a token named {name!r} already exists")
        row, token = await store.create(session, name, now=now)
        await audit.record(
            session, actor=actor, action="token.create", target=f"token:{name}", now=now
        )
    return _info(row), token


async def list_all(app: App) -> list[TokenInfo]:
    async with app.db.read() as session:
        return [_info(row) for row in await store.list_all(session)]


async def revoke(app: App, name: str, *, actor: str = "cli") -> bool:
    """Revoke the live token called `name`; False when there is none."""
    now = app.clock.now()
    async with app.db.write() as session:
        revoked = await store.revoke(session, name, now=now)
        if revoked:
            await audit.record(
                session, actor=actor, action="token.revoke", target=f"token:{name}", now=now
            )
    return revoked


async def end_sessions(app: App, name: str, *, actor: str) -> None:
    """Log out: every UI session opened with the token `name` ends (server-side)."""
    now = app.clock.now()
    async with app.db.write() as session:
        if await store.end_sessions(session, name):
            await audit.record(
                session, actor=actor, action="ui.logout", target=f"token:{name}", now=now
            )


async def session_epochs(app: App) -> dict[str, int]:
    """Live token name → its current UI session epoch."""
    return {t.name: t.session_epoch for t in await list_all(app) if t.active}


async def authenticate(app: App, token: str) -> str | None:
    """The name of the live token `token`, or None."""
    if not token.startswith(store.TOKEN_PREFIX):
        return None
    now = app.clock.now()
    # A read first: a write transaction per request only to note the time would queue every
    # API call behind the engine's writes on SQLite.
    async with app.db.read() as session:
        row = await store.find_live(session, token)
    if row is None:
        return None
    if store.due_for_touch(row, now):
        async with app.db.write() as session:
            await store.touch(session, row.id, now=now)
    return row.name
