"""Run operations shared by the faces: list with filters, detail, replay, cancel.

Replay queues a failed or dead run again; the runner skips the steps that already
succeeded (design invariant 3), so the run resumes at the step that failed. Both replay
and cancel are recorded in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billsync import errors
from billsync.app.root import App
from billsync.store import audit, runs, steps
from billsync.store.models import Run, RunStep, StepAttempt
from billsync.store.status import REPLAYABLE_RUN, RunStatus, sources_of

MAX_PAGE = 200


class RunNotFoundError(errors.SyncError):
    """No run has that id."""


class RunStateError(errors.SyncError):
    """The run is not in a status that allows this operation."""


@dataclass(frozen=True)
class RunFilter:
    status: RunStatus | None = None
    flow_id: int | None = None
    #: An entity id (e.g. a Togai account id) or a whole entity key.
    entity: str | None = None
    since: datetime | None = None  #: created at or after
    until: datetime | None = None  #: created before
    limit: int = 50
    before_id: int | None = None  #: keyset pagination: runs older than this id


@dataclass(frozen=True)
class AttemptInfo:
    attempt: int
    outcome: str
    started_at: datetime
    finished_at: datetime | None
    error_class: str | None
    message: str | None
    ambiguous: bool


@dataclass(frozen=True)
class StepInfo:
    idx: int
    step_id: str
    action: str
    connection_id: int | None
    status: str
    input: dict[str, Any] | None
    output: dict[str, Any] | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None
    attempts: list[AttemptInfo]


@dataclass(frozen=True)
class RunDetail:
    run: Run
    steps: list[StepInfo]


async def list_runs(app: App, query: RunFilter) -> list[Run]:
    async with app.db.read() as session:
        rows = await runs.list_recent(
            session,
            limit=max(1, min(query.limit, MAX_PAGE)),
            before_id=query.before_id,
            status=query.status,
            flow_id=query.flow_id,
            entity_id=query.entity,
            created_from=query.since,
            created_to=query.until,
        )
    return list(rows)


def _attempt(row: StepAttempt) -> AttemptInfo:
    return AttemptInfo(
        attempt=row.attempt,
        outcome=row.outcome,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error_class=row.error_class,
        message=row.message,
        ambiguous=row.ambiguous,
    )


def _step(row: RunStep, attempts: list[AttemptInfo]) -> StepInfo:
    return StepInfo(
        idx=row.idx,
        step_id=row.step_id,
        action=row.action,
        connection_id=row.connection_id,
        status=row.status,
        input=row.input,
        output=row.output,
        error=row.error,
        started_at=row.started_at,
        finished_at=row.finished_at,
        attempts=attempts,
    )


async def detail(app: App, run_id: int) -> RunDetail:
    async with app.db.read() as session:
        run = await runs.get(session, run_id)
        if run is None:
            raise RunNotFoundError(f"no run {run_id}")
        step_rows = await steps.for_run(session, run_id)
        attempt_rows = await steps.attempts(session, run_id)
    by_step: dict[int, list[AttemptInfo]] = {}
    for row in attempt_rows:
        by_step.setdefault(row.idx, []).append(_attempt(row))
    return RunDetail(
        run=run,
        steps=[_step(row, by_step.get(idx, [])) for idx, row in sorted(step_rows.items())],
    )


async def replay(app: App, run_id: int, *, actor: str = "cli") -> Run:
    """Queue a failed or dead run again (it resumes at the step that failed)."""
    now = app.clock.now()
    async with app.db.write() as session:
        run = await runs.get(session, run_id)
        if run is None:
            raise RunNotFoundError(f"no run {run_id}")
        previous = run.status
        if not await runs.replay(session, run_id, now=now):
            allowed = ", ".join(sorted(s.value for s in REPLAYABLE_RUN))
            raise RunStateError(f"run {run_id} is {previous}; only {allowed} runs can be replayed")
        # A scale-out dispatcher enqueues its job in this transaction (embedded: no-op).
        await app.dispatcher.wake(session, [run_id])
        await audit.record(
            session,
            actor=actor,
            action="run.replay",
            target=f"run:{run_id}",
            now=now,
            detail={"from": previous},
        )
        fresh = await runs.get(session, run_id, fresh=True)
    app.dispatcher.notify()
    if fresh is None:
        raise RunNotFoundError(f"no run {run_id}")
    return fresh


async def cancel(app: App, run_id: int, *, actor: str = "cli") -> Run:
    """Stop a queued or waiting run; a running one must finish its attempt first."""
    now = app.clock.now()
    async with app.db.write() as session:
        run = await runs.get(session, run_id)
        if run is None:
            raise RunNotFoundError(f"no run {run_id}")
        previous = run.status
        if not await runs.cancel(session, run_id, now=now):
            allowed = ", ".join(sorted(s.value for s in sources_of(RunStatus.CANCELLED)))
            raise RunStateError(f"run {run_id} is {previous}; only {allowed} runs can be cancelled")
        # The entity's next run may go now: a scale-out dispatcher defers its wake-up here.
        await app.dispatcher.wake(session, [run_id])
        await audit.record(
            session,
            actor=actor,
            action="run.cancel",
            target=f"run:{run_id}",
            now=now,
            detail={"from": previous},
        )
        fresh = await runs.get(session, run_id, fresh=True)
    app.dispatcher.notify()
    if fresh is None:
        raise RunNotFoundError(f"no run {run_id}")
    return fresh


async def counts(app: App) -> dict[str, int]:
    """Runs per status."""
    async with app.db.read() as session:
        return await runs.count_by_status(session)
