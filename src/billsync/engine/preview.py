"""Dry-run a flow against an event: what each step would receive and return.

Every action runs with `ctx.dry_run=True`: read-only calls go out, writes are not sent and
the action answers with a preview output. The caller's `make_context` builds the
contexts (and their clients), so this module does no I/O of its own.

It mirrors a real run: a falsy `when` or a SkipEventError skips the step, the first error
stops the walk (later steps are "not_reached"). Unlike a run, a non-matching trigger
filter does not stop the preview: it is reported, and the steps are still shown.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from billsync import errors
from billsync.connectors import spec
from billsync.engine import inputs
from billsync.engine.flow import FlowDefinition, StepDef, action_for, validate_flow

#: (step, step index) → the context for that step's action (client built by the caller).
MakeContext = Callable[[StepDef, int], spec.ActionContext]


class StepStatus(enum.StrEnum):
    OK = "ok"
    SKIPPED = "skipped"  #: `when` was falsy, or the action raised SkipEventError
    ERROR = "error"
    NOT_REACHED = "not_reached"  #: an earlier step failed


@dataclass(frozen=True)
class StepPreview:
    step_id: str
    app: str
    action: str
    writes: bool  #: the action would change data in a real run
    status: StepStatus
    input: dict[str, Any] | None = None  #: resolved values, JSON-safe (Decimal as string)
    output: dict[str, Any] | None = None  #: the action's preview output, JSON mode
    error: str | None = None  #: safe to show
    reason: str | None = None  #: why it was skipped


@dataclass(frozen=True)
class FlowPreview:
    trigger_matched: bool
    steps: tuple[StepPreview, ...]


async def preview(
    defn: FlowDefinition,
    registry: spec.Registry,
    event: Mapping[str, Any],
    make_context: MakeContext,
    *,
    connections: Mapping[str, str],
) -> FlowPreview:
    """Walk the flow's steps in dry-run mode; raises FlowError when the flow is invalid."""
    validate_flow(defn, registry, connections)
    try:
        matched = inputs.trigger_matches(defn.trigger, event)
    except errors.RejectedError:
        matched = False
    outputs: dict[str, Any] = {}
    results: list[StepPreview] = []
    failed = False
    for index, step in enumerate(defn.steps):
        action = action_for(step, registry, connections)
        base = StepPreview(
            step_id=step.id,
            app=connections[step.connection_id],
            action=step.action,
            writes=action.writes,
            status=StepStatus.NOT_REACHED,
        )
        if failed:
            results.append(base)
            continue
        result = await _preview_step(base, step, index, action, event, outputs, make_context)
        if result.status is StepStatus.OK and result.output is not None:
            outputs[step.id] = result.output
        failed = result.status is StepStatus.ERROR
        results.append(result)
    return FlowPreview(trigger_matched=matched, steps=tuple(results))


async def _preview_step(
    base: StepPreview,
    step: StepDef,
    index: int,
    action: spec.ActionSpec,
    event: Mapping[str, Any],
    outputs: Mapping[str, Any],
    make_context: MakeContext,
) -> StepPreview:
    replace = dataclasses.replace
    try:
        if not inputs.step_applies(step, event, outputs):
            return replace(base, status=StepStatus.SKIPPED, reason="`when` is false")
        values = inputs.resolve_input_values(step, action, event, outputs)
    except errors.SyncError as exc:
        return replace(base, status=StepStatus.ERROR, error=exc.message)
    record = inputs.input_record(values)
    try:
        data = inputs.validate_step_input(action, values)
        ctx = make_context(step, index)
        # Forced here, whatever the caller built: a preview must never write.
        result = await action.run(dataclasses.replace(ctx, dry_run=True), data)
    except errors.SkipEventError as exc:
        return replace(base, status=StepStatus.SKIPPED, input=record, reason=exc.message)
    except errors.SyncError as exc:
        return replace(base, status=StepStatus.ERROR, input=record, error=exc.message)
    except Exception as exc:
        # An action's bug becomes this step's error. Only the type is shown: an arbitrary
        # exception's message may hold secrets.
        error = f"internal error ({type(exc).__name__})"
        return replace(base, status=StepStatus.ERROR, input=record, error=error)
    output = result.output.model_dump(mode="json")
    return replace(base, status=StepStatus.OK, input=record, output=output)
