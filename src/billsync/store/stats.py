"""Read-only aggregates for metrics: attempts per connection, retries, latency, lag.

Nothing here writes. Queries stay portable (SQLite and PostgreSQL): durations are computed
in Python over a bounded window of recent attempts rather than with dialect date math.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from billsync.store.models import Event, Run, RunStep, StepAttempt
from billsync.store.status import UNFINISHED_RUN, AttemptOutcome

#: Error class the runner records for a 429 (errors.RateLimitedError).
RATE_LIMITED_CLASS = "RateLimitedError"


@dataclass(frozen=True)
class ConnectionCalls:
    connection_id: int
    attempts: int  #: finished attempts of actions on this connection
    rate_limited: int  #: of which the app answered 429


@dataclass(frozen=True)
class AttemptTiming:
    action: str
    seconds: float


async def events_by_status(session: AsyncSession) -> dict[str, int]:
    stmt = sa.select(Event.status, sa.func.count()).group_by(Event.status)
    return {status: int(n) for status, n in (await session.execute(stmt)).all()}


async def attempts_by_outcome(session: AsyncSession) -> dict[str, int]:
    stmt = sa.select(StepAttempt.outcome, sa.func.count()).group_by(StepAttempt.outcome)
    return {outcome: int(n) for outcome, n in (await session.execute(stmt)).all()}


async def calls_by_connection(session: AsyncSession) -> list[ConnectionCalls]:
    limited = sa.func.sum(sa.case((StepAttempt.error_class == RATE_LIMITED_CLASS, 1), else_=0))
    stmt = (
        sa.select(RunStep.connection_id, sa.func.count(), limited)
        .join(
            StepAttempt,
            sa.and_(StepAttempt.run_id == RunStep.run_id, StepAttempt.idx == RunStep.idx),
        )
        .where(
            RunStep.connection_id.is_not(None),
            StepAttempt.outcome != AttemptOutcome.RUNNING.value,
        )
        .group_by(RunStep.connection_id)
        .order_by(RunStep.connection_id)
    )
    return [
        ConnectionCalls(int(cid), int(n), int(n429 or 0))
        for cid, n, n429 in (await session.execute(stmt)).all()
    ]


async def recent_timings(
    session: AsyncSession, *, since: datetime, limit: int = 5000
) -> Sequence[AttemptTiming]:
    """Durations of attempts finished since `since` (newest first, at most `limit`)."""
    stmt = (
        sa.select(RunStep.action, StepAttempt.started_at, StepAttempt.finished_at)
        .join(
            RunStep,
            sa.and_(StepAttempt.run_id == RunStep.run_id, StepAttempt.idx == RunStep.idx),
        )
        .where(StepAttempt.finished_at.is_not(None), StepAttempt.finished_at >= since)
        .order_by(StepAttempt.id.desc())
        .limit(limit)
    )
    return [
        AttemptTiming(action, max(0.0, (finished - started).total_seconds()))
        for action, started, finished in (await session.execute(stmt)).all()
        if finished is not None
    ]


async def oldest_unfinished_run(session: AsyncSession) -> datetime | None:
    """When the oldest run not yet final was created (what sync lag is measured from)."""
    stmt = sa.select(sa.func.min(Run.created_at)).where(
        Run.status.in_(sorted(s.value for s in UNFINISHED_RUN))
    )
    value = (await session.execute(stmt)).scalar_one_or_none()
    return value if isinstance(value, datetime) else None


async def runs_by_status(session: AsyncSession) -> dict[str, int]:
    stmt = sa.select(Run.status, sa.func.count()).group_by(Run.status)
    return {status: int(n) for status, n in (await session.execute(stmt)).all()}
