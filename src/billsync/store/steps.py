"""Steps of a run (latest state per step) and their attempts (the history).

Writes are Core statements on the tables, no ORM unit of work (which was most of a sync's
CPU); reads return row objects for the faces.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from billsync.store import prepared
from billsync.store.models import RunStep, StepAttempt
from billsync.store.status import AttemptOutcome, StepStatus

_STEP: sa.Table = RunStep.__table__  # type: ignore[assignment]  # declarative maps a Table
_ATTEMPT: sa.Table = StepAttempt.__table__  # type: ignore[assignment]

# The hot-path statements are built once, with named parameters: building, compile state and
# the cache key are paid at import, not per call. INSERTs take their values from the
# parameter dict (keyed by column), UPDATEs from `b_` parameters typed like their column.


def _bind(column: sa.Column[object]) -> sa.BindParameter[object]:
    return sa.bindparam(f"b_{column.key}", type_=column.type)


_FOR_RUN = sa.select(RunStep).where(RunStep.run_id == sa.bindparam("run_id")).order_by(RunStep.idx)

_FINISH_ATTEMPT = (
    sa.update(_ATTEMPT)
    .where(_ATTEMPT.c.id == sa.bindparam("attempt_id"))
    .values(
        {
            c: _bind(c)
            for c in (
                _ATTEMPT.c.outcome,
                _ATTEMPT.c.finished_at,
                _ATTEMPT.c.error_class,
                _ATTEMPT.c.message,
                _ATTEMPT.c.ambiguous,
            )
        }
    )
)

#: What `save` writes on every call; `input` only when given.
_SAVED = (
    _STEP.c.step_id,
    _STEP.c.action,
    _STEP.c.connection_id,
    _STEP.c.status,
    _STEP.c.output,
    _STEP.c.error,
    _STEP.c.finished_at,
)


def _save_update(*, with_input: bool, new_attempt: bool) -> sa.Update:
    attempts = sa.func.coalesce(_STEP.c.attempts, 0)
    values: dict[sa.Column[Any], Any] = {c: _bind(c) for c in _SAVED}
    if with_input:
        values[_STEP.c.input] = _bind(_STEP.c.input)
    values[_STEP.c.attempts] = attempts + 1 if new_attempt else attempts
    return (
        sa.update(_STEP)
        .where(_STEP.c.run_id == sa.bindparam("p_run_id"), _STEP.c.idx == sa.bindparam("p_idx"))
        .values(values)
        .returning(_STEP.c.attempts)
    )


#: (input given, new attempt) -> the UPDATE `save` tries first.
_SAVE_UPDATE = {
    (with_input, new_attempt): _save_update(with_input=with_input, new_attempt=new_attempt)
    for with_input in (False, True)
    for new_attempt in (False, True)
}
_INSERT_STEP = sa.insert(_STEP)

_PREVIOUS_ATTEMPT = (
    sa.select(_ATTEMPT.c.id, _ATTEMPT.c.attempt, _ATTEMPT.c.outcome, _ATTEMPT.c.ambiguous)
    .where(_ATTEMPT.c.run_id == sa.bindparam("run_id"), _ATTEMPT.c.idx == sa.bindparam("idx"))
    .order_by(_ATTEMPT.c.attempt.desc())
    .limit(1)
)
_BEGIN_ATTEMPT = sa.insert(_ATTEMPT).returning(_ATTEMPT.c.id)


class StepState(NamedTuple):
    status: str
    output: dict[str, Any] | None


_STATES = sa.select(_STEP.c.idx, _STEP.c.status, _STEP.c.output).where(
    _STEP.c.run_id == sa.bindparam("run_id")
)


async def states(session: AsyncSession, run_id: int) -> dict[int, StepState]:
    """Each recorded step's status and output, by index (what a runner resumes from)."""
    rows = await prepared.run(session, _STATES, {"run_id": run_id})
    return {int(idx): StepState(status, output) for idx, status, output in rows}


async def for_run(session: AsyncSession, run_id: int) -> dict[int, RunStep]:
    rows = (await session.execute(_FOR_RUN, {"run_id": run_id})).scalars().all()
    return {row.idx: row for row in rows}


async def succeeded_for_runs(
    session: AsyncSession, run_ids: Collection[int], actions: Collection[str]
) -> Sequence[RunStep]:
    """The succeeded steps of `run_ids` calling one of `actions`, oldest finished first
    (what billsync last wrote or saw, for the live-status fallback)."""
    if not run_ids:
        return []
    stmt = (
        sa.select(RunStep)
        .where(
            RunStep.run_id.in_(list(run_ids)),
            RunStep.action.in_(list(actions)),
            RunStep.status == StepStatus.SUCCEEDED,
        )
        .order_by(RunStep.finished_at, RunStep.id)
    )
    return (await session.execute(stmt)).scalars().all()


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
    await prepared.run(
        session,
        _FINISH_ATTEMPT,
        {
            "attempt_id": attempt_id,
            "b_outcome": outcome.value,
            "b_finished_at": now,
            "b_error_class": error_class,
            "b_message": message,
            "b_ambiguous": ambiguous,
        },
    )


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
    params = {f"b_{key}": value for key, value in values.items()}
    params["p_run_id"] = run_id
    params["p_idx"] = idx
    updated = await prepared.run(session, _SAVE_UPDATE[input is not None, new_attempt], params)
    count = updated.scalar_one_or_none()
    if count is not None:
        return int(count)
    first = 1 if new_attempt else 0
    await prepared.run(
        session,
        _INSERT_STEP,
        {**values, "run_id": run_id, "idx": idx, "attempts": first, "started_at": now},
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
    await prepared.run(
        session,
        _INSERT_STEP,
        {
            "run_id": run_id,
            "idx": idx,
            "step_id": step_id,
            "action": action,
            "connection_id": connection_id,
            "status": status.value,
            "input": input,
            "attempts": 1,
            "started_at": now,
        },
    )


async def previous_attempt(session: AsyncSession, run_id: int, idx: int) -> AttemptState | None:
    """The step's latest attempt, as plain values."""
    row = (await prepared.run(session, _PREVIOUS_ATTEMPT, {"run_id": run_id, "idx": idx})).first()
    if row is None:
        return None
    return AttemptState(int(row[0]), int(row[1]), str(row[2]), bool(row[3]))


async def begin_attempt(
    session: AsyncSession, run_id: int, idx: int, *, number: int, now: datetime
) -> int:
    """Insert attempt `number` as RUNNING (before the call); its id."""
    result = await prepared.run(
        session,
        _BEGIN_ATTEMPT,
        {
            "run_id": run_id,
            "idx": idx,
            "attempt": number,
            "started_at": now,
            "outcome": AttemptOutcome.RUNNING.value,
            "ambiguous": False,
        },
    )
    return int(result.scalar_one())
