"""Hint-round claims: which process resolves a connection's webhook hints now, so that the
processes taking webhooks (several `billsync serve`s) do not each re-fetch the same hints.

A claim row per connection names its holder and `held_until`. A round claims it (one atomic
statement: an insert for a new connection, else an update that succeeds only for the holder
or once `held_until` has passed), renews it while it runs, and releases it at the end by
setting `held_until` to now. A holder that dies stops renewing; the claim is free once its
`held_until` passes. The row also records when hints were last resolved for the connection
(`resolved_at`): the pollers of every process defer to webhooks arriving anywhere.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from billsync.store import dialect
from billsync.store.models import HintClaim


async def claim(
    session: AsyncSession, connection_id: int, *, holder: str, now: datetime, until: datetime
) -> bool:
    """Whether `holder` may run the connection's hint round now; if so it holds the claim
    until `until` (also how a holder renews it)."""
    inserted = await session.execute(
        dialect.insert(session, HintClaim)
        .values(connection_id=connection_id, holder=holder, held_until=until)
        .on_conflict_do_nothing(index_elements=["connection_id"])
    )
    if dialect.rowcount(inserted) == 1:
        return True
    updated = await session.execute(
        sa.update(HintClaim)
        .where(
            HintClaim.connection_id == connection_id,
            sa.or_(HintClaim.holder == holder, HintClaim.held_until <= now),
        )
        .values(holder=holder, held_until=until)
    )
    return dialect.rowcount(updated) == 1


async def release(
    session: AsyncSession, connection_id: int, *, holder: str, now: datetime, resolved: bool
) -> None:
    """End `holder`'s round (the claim is free at once); `resolved`: it resolved hints, which
    is recorded even if the claim was lost meanwhile."""
    row = sa.update(HintClaim).where(HintClaim.connection_id == connection_id)
    if resolved:
        await session.execute(row.values(resolved_at=now))
    await session.execute(row.where(HintClaim.holder == holder).values(held_until=now))


async def resolved_at(session: AsyncSession) -> dict[int, datetime]:
    """Connection id → when any process last resolved hints for it."""
    stmt = sa.select(HintClaim.connection_id, HintClaim.resolved_at).where(
        HintClaim.resolved_at.is_not(None)
    )
    return {int(cid): at for cid, at in (await session.execute(stmt)).all() if at is not None}
