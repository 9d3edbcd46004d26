"""Periodic-work claims: which process does one piece of periodic work (a poll target) for
every process sharing the database, so that it happens once per interval, not once per
process.

A claim row names its holder and a `due_at`. The holder renews it each time it does the
work, on its own schedule; any other process may take it only once `due_at` has passed (the
holder stopped, or died), or when asked to do the work now (`force`, a user's kick). Each
claim is one atomic statement (an insert for a new name, else a conditional update), so of
two processes trying at once exactly one wins.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from billsync.store import dialect
from billsync.store.models import PeriodicClaim


async def claim(
    session: AsyncSession,
    name: str,
    *,
    holder: str,
    now: datetime,
    due_at: datetime,
    force: bool = False,
) -> bool:
    """Whether `holder` may do the work `name` now; if so it holds it until `due_at`."""
    inserted = await session.execute(
        dialect.insert(session, PeriodicClaim)
        .values(name=name, holder=holder, due_at=due_at)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    if dialect.rowcount(inserted) == 1:
        return True
    condition = sa.or_(PeriodicClaim.holder == holder, PeriodicClaim.due_at <= now)
    updated = await session.execute(
        sa.update(PeriodicClaim)
        .where(PeriodicClaim.name == name, sa.true() if force else condition)
        .values(holder=holder, due_at=due_at)
    )
    return dialect.rowcount(updated) == 1


async def due_at(session: AsyncSession, name: str) -> datetime | None:
    """When the claim `name` may be taken over (None: nobody holds it)."""
    return (
        await session.execute(sa.select(PeriodicClaim.due_at).where(PeriodicClaim.name == name))
    ).scalar_one_or_none()
