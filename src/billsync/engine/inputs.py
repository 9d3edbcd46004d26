"""Turn a step's expressions into the action's validated input, and decide filters/`when`.

Resolution: the action's default_input, overridden by the step's `input`, each evaluated
over {"event": payload, "steps": {step_id: output}}. Fields that evaluate to null are
dropped, so the input model's own defaults apply. Floats become `Decimal(str(x))` before
validation (see engine.expression), so money never passes through binary float math.

At run time every failure here is permanent (the same data fails the same way), so it is
raised as errors.RejectedError naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jmespath.exceptions
import pydantic
import pydantic_core
from pydantic import BaseModel

from billsync import errors
from billsync.connectors import spec
from billsync.engine import expression
from billsync.engine.flow import StepDef, TriggerRef, field_path

_APP = "billsync"


def step_scope(event: Mapping[str, Any], steps: Mapping[str, Any]) -> dict[str, Any]:
    """What step expressions see. `steps` holds JSON-mode outputs of earlier steps."""
    return {"event": dict(event), "steps": dict(steps)}


def input_expressions(step: StepDef, action: spec.ActionSpec) -> dict[str, str]:
    """Field → expression: the action's defaults, overridden by the step."""
    return {**action.default_input, **step.input}


def resolve_input_values(
    step: StepDef,
    action: spec.ActionSpec,
    event: Mapping[str, Any],
    steps: Mapping[str, Any],
) -> dict[str, Any]:
    """Evaluate every input expression; null results are left out (model defaults apply)."""
    scope = step_scope(event, steps)
    values: dict[str, Any] = {}
    for name, text in input_expressions(step, action).items():
        value = _evaluate(text, scope, field=f"input.{name}", operation=step.action)
        if value is not None:
            values[name] = value
    return values


def validate_step_input(action: spec.ActionSpec, values: Mapping[str, Any]) -> BaseModel:
    """Validate resolved values into the action's input model (RejectedError names the field)."""
    try:
        return action.input_model.model_validate(dict(values))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        field = field_path(first["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        missing = first["type"] == "missing"
        reason = "missing" if missing else "invalid"
        detail = "no value (the expression gave null)" if missing else first["msg"]
        raise errors.RejectedError(
            f"{action.key} input {field!r}: {detail}{more}",
            app=_APP,
            operation=action.key,
            field=field,
            reason=reason,
        ) from None


def resolve_step_input(
    step: StepDef,
    action: spec.ActionSpec,
    event: Mapping[str, Any],
    steps: Mapping[str, Any],
) -> BaseModel:
    """The validated input model for one step (resolve_input_values + validate_step_input)."""
    return validate_step_input(action, resolve_input_values(step, action, event, steps))


def input_record(values: Mapping[str, Any]) -> dict[str, Any]:
    """Resolved values as JSON (Decimal → exact string), for run history and previews."""
    record: dict[str, Any] = pydantic_core.to_jsonable_python(dict(values))
    return record


def step_applies(step: StepDef, event: Mapping[str, Any], steps: Mapping[str, Any]) -> bool:
    """False when the step's `when` is falsy (JMESPath truthiness: 0 is true, [] false)."""
    if step.when is None:
        return True
    scope = step_scope(event, steps)
    return expression.is_truthy(_evaluate(step.when, scope, field="when", operation=step.action))


def trigger_matches(trigger: TriggerRef, event: Mapping[str, Any]) -> bool:
    """True when the trigger has no filter or the filter is truthy over {"event": payload}."""
    if trigger.filter is None:
        return True
    value = _evaluate(
        trigger.filter, {"event": dict(event)}, field="filter", operation=trigger.trigger
    )
    return expression.is_truthy(value)


def _evaluate(text: str, scope: dict[str, Any], *, field: str, operation: str) -> Any:
    try:
        return expression.evaluate(text, scope)
    except jmespath.exceptions.JMESPathError as exc:
        # A flow saved before validation existed, or data of an unexpected type.
        raise errors.RejectedError(
            f"expression for {field!r} failed: {str(exc).splitlines()[0]}",
            app=_APP,
            operation=operation,
            field=field,
            reason="expression",
        ) from None
