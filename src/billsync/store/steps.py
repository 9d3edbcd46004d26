"""Steps of a run (latest state per step) and their attempts (the history).

Writes are Core statements on the tables, no ORM unit of work (which was most of a sync's
CPU); reads return row objects for the faces.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from billsync.store.models import RunStep, StepAttempt
from billsync.store.status import AttemptOutcome, StepStatus


async def for_run(session: AsyncSession, run_id: int) -> dict[int, RunStep]:
    stmt = sa.select(RunStep).where(RunStep.run_id == run_id).order_by(RunStep.idx)
    return {row.idx: row for row in (await session.execute(stmt)).scalars().all()}


async def get(session: AsyncSession, run_id: int, idx: int) -> RunStep | None:
    stmt = sa.select(RunStep).where(RunStep.run_id == run_id, RunStep.idx == idx)
    return (await session.execute(stmt)).scalar_one_or_none()


async def attempts(
    session: AsyncSession, run_id: int, idx: int | None = None
) -> Sequence[StepAttempt]:
    stmt = sa.select(StepAttempt).where(StepAttempt.run_id == run_id)
    if idx is not None:
        stmt = stmt.where(StepAttempt.idx == idx)
    stmt = stmt.order_by(StepAttempt.idx, StepAttempt.attempt)
    return (await session.execute(stmt)).scalars().all()


async def finish_attempt(
    session: AsyncSession,
    attempt_id: int,
    *,
    outcome: AttemptOutcome,
    now: datetime,
    error_class: str | None = None,
    message: str | None = None,
    ambiguous: bool = False,
) -> None:
    await session.execute(
        sa.update(_ATTEMPT)
        .where(_ATTEMPT.c.id == attempt_id)
        .values(
            outcome=outcome.value,
            finished_at=now,
            error_class=error_class,
            message=message,
            ambiguous=ambiguous,
        )
    )


_STEP: sa.Table = RunStep.__table__  # type: ignore[assignment]  # declarative maps a Table
_ATTEMPT: sa.Table = StepAttempt.__table__  # type: ignore[assignment]


class AttemptState(NamedTuple):
    id: int
    attempt: int
    outcome: str
    ambiguous: bool


async def save(
    session: AsyncSession,
    run_id: int,
    idx: int,
    *,
    step_id: str,
    action: str,
    connection_id: int | None,
    status: StepStatus,
    now: datetime,
    input: dict[str, Any] | None = None,
    output: dict[str, Any] | None = None,
    error: str | None = None,
    new_attempt: bool = False,
    finished: bool = False,
) -> int:
    """Create or update the step row (Core statements); returns its attempt count. The run's
    lease holder is the only writer."""
    values: dict[str, Any] = {
        "step_id": step_id,
        "action": action,
        "connection_id": connection_id,
        "status": status.value,
        "output": output,
        "error": error,
        "finished_at": now if finished else None,
    }
    if input is not None:
        values["input"] = input
    attempts = sa.func.coalesce(_STEP.c.attempts, 0)
    updated = await session.execute(
        sa.update(_STEP)
        .where(_STEP.c.run_id == run_id, _STEP.c.idx == idx)
        .values(**values, attempts=attempts + 1 if new_attempt else attempts)
        .returning(_STEP.c.attempts)
    )
    count = updated.scalar_one_or_none()
    if count is not None:
        return int(count)
    first = 1 if new_attempt else 0
    await session.execute(
        sa.insert(_STEP).values(**values, run_id=run_id, idx=idx, attempts=first, started_at=now)
    )
    return first


async def insert_new(
    session: AsyncSession,
    run_id: int,
    idx: int,
    *,
    step_id: str,
    action: str,
    connection_id: int | None,
    status: StepStatus,
    now: datetime,
    input: dict[str, Any] | None,
) -> None:
    """The step's row at its first attempt (the caller knows there is none yet)."""
    await session.execute(
        sa.insert(_STEP).values(
            run_id=run_id,
            idx=idx,
            step_id=step_id,
            action=action,
            connection_id=connection_id,
            status=status.value,
            input=input,
            attempts=1,
            started_at=now,
        )
    )


async def previous_attempt(session: AsyncSession, run_id: int, idx: int) -> AttemptState | None:
    """The step's latest attempt, as plain values."""
    stmt = (
        sa.select(_ATTEMPT.c.id, _ATTEMPT.c.attempt, _ATTEMPT.c.outcome, _ATTEMPT.c.ambiguous)
        .where(_ATTEMPT.c.run_id == run_id, _ATTEMPT.c.idx == idx)
        .order_by(_ATTEMPT.c.attempt.desc())
        .limit(1)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    return AttemptState(int(row[0]), int(row[1]), str(row[2]), bool(row[3]))


async def begin_attempt(
    session: AsyncSession, run_id: int, idx: int, *, number: int, now: datetime
) -> int:
    """Insert attempt `number` as RUNNING (before the call); its id."""
    stmt = (
        sa.insert(_ATTEMPT)
        .values(
            run_id=run_id,
            idx=idx,
            attempt=number,
            started_at=now,
            outcome=AttemptOutcome.RUNNING.value,
            ambiguous=False,
        )
        .returning(_ATTEMPT.c.id)
    )
    return int((await session.execute(stmt)).scalar_one())
