"""Runs, their steps and attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from billsync.app.runs import RunDetail, StepInfo
from billsync.store.models import Run


class RunPublic(BaseModel):
    id: int
    flow_id: int
    flow_version: int
    event_id: int
    entity_key: str
    status: str
    attempt: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, run: Run) -> RunPublic:
        return cls(
            id=run.id,
            flow_id=run.flow_id,
            flow_version=run.flow_version,
            event_id=run.event_id,
            entity_key=run.entity_key,
            status=run.status,
            attempt=run.attempt,
            next_attempt_at=run.next_attempt_at,
            last_error=run.last_error,
            created_at=run.created_at,
            updated_at=run.updated_at,
            finished_at=run.finished_at,
        )


class AttemptPublic(BaseModel):
    attempt: int
    outcome: str
    started_at: datetime
    finished_at: datetime | None
    error_class: str | None
    message: str | None
    ambiguous: bool


class StepPublic(BaseModel):
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
    attempts: list[AttemptPublic]

    @classmethod
    def of(cls, step: StepInfo) -> StepPublic:
        return cls(
            idx=step.idx,
            step_id=step.step_id,
            action=step.action,
            connection_id=step.connection_id,
            status=step.status,
            input=step.input,
            output=step.output,
            error=step.error,
            started_at=step.started_at,
            finished_at=step.finished_at,
            attempts=[AttemptPublic(**vars(a)) for a in step.attempts],
        )


class RunDetailPublic(RunPublic):
    steps: list[StepPublic]

    @classmethod
    def of_detail(cls, detail: RunDetail) -> RunDetailPublic:
        base = RunPublic.of(detail.run).model_dump()
        return cls(**base, steps=[StepPublic.of(s) for s in detail.steps])
