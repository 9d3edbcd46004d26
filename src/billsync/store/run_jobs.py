"""The run table as the procrastinate dispatcher sees it (PostgreSQL only): which entities a
wake-up must drain and when, runs held by a job whose worker died, and runnable runs no job
will reach.

The run table stays the source of truth; a job only says "drain this entity's runs now (or
at this time)". Claiming is `store.leases.claim_entity`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from billsync.store.models import Run
from billsync.store.status import CLAIMABLE_RUN, RunStatus, status_values


async def wake_targets(
    session: AsyncSession, run_ids: Sequence[int]
) -> list[tuple[str, datetime | None]]:
    """(entity key, when to drain it) for these runs: a claimable run's next_attempt_at (a
    retry's due time), None (now) for any other status (a cancelled or finished head run
    lets the entity's next run go)."""
    found: list[tuple[str, datetime | None]] = []
    claimable = set(status_values(CLAIMABLE_RUN))
    for start in range(0, len(run_ids), 500):
        chunk = list(run_ids[start : start + 500])
        stmt = sa.select(Run.entity_key, Run.status, Run.next_attempt_at).where(Run.id.in_(chunk))
        for entity, status, at in (await session.execute(stmt)).all():
            found.append((str(entity), at if status in claimable else None))
    return found


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def release_owned(
    session: AsyncSession, *, owner_prefix: str = "", owner_suffix: str = "", now: datetime
) -> list[int]:
    """Queue again, due now, the running runs whose lease owner starts with `owner_prefix`
    and ends with `owner_suffix` (a job's executions, or one process's); their ids."""
    pattern = f"{_like_literal(owner_prefix)}%{_like_literal(owner_suffix)}"
    held = list(
        (
            await session.execute(
                sa.select(Run.id).where(
                    Run.status == RunStatus.RUNNING.value,
                    Run.lease_owner.like(pattern, escape="\\"),
                )
            )
        ).scalars()
    )
    if not held:
        return []
    result = await session.execute(
        sa.update(Run)
        .where(
            Run.id.in_(held),
            Run.status == RunStatus.RUNNING.value,
            Run.lease_owner.like(pattern, escape="\\"),
        )
        .values(
            status=RunStatus.QUEUED.value,
            lease_owner=None,
            lease_expires_at=None,
            next_attempt_at=now,
            updated_at=now,
        )
        .returning(Run.id)
    )
    return sorted(int(i) for i in result.scalars())


#: Queued or waiting runs whose entity has no job to come (procrastinate's `todo` or
#: `doing`): runs queued while the embedded dispatcher was configured, or a job lost to a
#: manual cleanup. One hash anti-join; procrastinate's table name is fixed by its schema.
_ORPHANS = sa.text(
    """
    SELECT r.id FROM run r
     WHERE r.status IN ('queued', 'retry_wait')
       AND NOT EXISTS (
           SELECT 1 FROM procrastinate_jobs j
            WHERE j.task_name = :task
              AND j.status IN ('todo', 'doing')
              AND j.args ->> 'entity' = r.entity_key)
     ORDER BY r.id
     LIMIT :limit
    """
)


async def orphaned(session: AsyncSession, *, task: str, limit: int = 10_000) -> list[int]:
    """Runnable runs no job will reach (see _ORPHANS); the oldest `limit`."""
    result = await session.execute(_ORPHANS, {"task": task, "limit": limit})
    return [int(i) for i in result.scalars()]
