"""Id mappings as the engine uses them: read access for actions, idempotent link writes.

Writing the same link again is a no-op (a replayed step, an adopted object). A link that
contradicts an existing row (the Togai id already mapped to another Razorpay id, or the
other way round) raises errors.MappingError: the run fails instead of silently relinking.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from billsync import errors
from billsync.domain import IdLink, LinkKind, Side
from billsync.store import mappings
from billsync.store.database import Database


class StoreIdLookup:
    """connectors.spec.IdLookup over the store; each lookup reads committed rows."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def find(self, kind: LinkKind, side: Side, value: str) -> str | None:
        async with self._db.read() as session:
            return await mappings.find(session, kind, side, value)


async def write_links(
    session: AsyncSession, links: Iterable[IdLink], *, run_id: int | None, now: datetime
) -> None:
    """Store `links` in the caller's transaction (the one writing the step result)."""
    for link in links:
        if await mappings.insert_new(session, link, run_id=run_id, now=now):
            continue
        existing = await mappings.touching(session, link)
        if any(r.togai_id == link.togai_id and r.razorpay_id == link.razorpay_id for r in existing):
            continue
        raise errors.MappingError(_conflict_message(link, existing), app="billsync")


def _conflict_message(link: IdLink, existing: Iterable[object]) -> str:
    for row in existing:
        togai_id = getattr(row, "togai_id", None)
        razorpay_id = getattr(row, "razorpay_id", None)
        if togai_id == link.togai_id:
            return (
                f"{link.kind.value}: Togai id {link.togai_id} is already mapped to Razorpay id "
                f"{razorpay_id}, not {link.razorpay_id}"
            )
        if razorpay_id == link.razorpay_id:
            return (
                f"{link.kind.value}: Razorpay id {link.razorpay_id} is already mapped to Togai "
                f"id {togai_id}, not {link.togai_id}"
            )
    # The conflicting row was deleted between the insert and the read: a retry will insert.
    return f"{link.kind.value}: mapping {link.togai_id} ↔ {link.razorpay_id} changed concurrently"
