"""A flow definition (one trigger, ordered steps) and its validation against the catalogue.

Pydantic checks the shape (`parse_flow` turns its errors into one FlowError); `validate_flow`
checks the meaning against the registry and the bound connections and reports every
problem at once, each named by its field path (`steps[1].input.amount`).

Direction rule: the trigger decides the direction. An outbound flow starts from a Togai
trigger, an inbound flow from a Razorpay trigger. Steps may use either app, because a flow
usually writes back to its source (e.g. storing the new Razorpay customer id as a Togai
account setting).

Step ids are slugs (`^[a-z][a-z0-9_]{0,62}$`): plain JMESPath identifiers, so an
expression reads `steps.customer.customer_id` without quoting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from billsync import errors
from billsync.connectors import spec
from billsync.domain import Direction
from billsync.engine import expression

STEP_ID_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
MAX_NAME = 200

#: The app whose trigger starts a flow of each direction.
SOURCE_APP: Mapping[Direction, str] = {
    Direction.OUTBOUND: "togai",
    Direction.INBOUND: "razorpay",
}

#: Scope keys an expression may read: filters see only the event.
FILTER_ROOTS = frozenset({"event"})
STEP_ROOTS = frozenset({"event", "steps"})
_JSON_WORDS = frozenset({"null", "true", "false"})


def _id_text(value: Any) -> Any:
    """`"connection_id": 1` is as natural to write as "1" (ids are stored as text)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class TriggerRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    connection_id: Annotated[str, BeforeValidator(_id_text)]
    trigger: str
    #: JMESPath over {"event": payload}; the flow runs only when the result is truthy.
    filter: str | None = None


class StepDef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: a slug (STEP_ID_PATTERN), checked by validate_flow with the other problems
    id: str
    connection_id: Annotated[str, BeforeValidator(_id_text)]
    action: str
    #: input field → JMESPath over {"event", "steps"}, overriding the action's default_input.
    input: dict[str, str] = Field(default_factory=dict)
    #: JMESPath over {"event", "steps"}; a falsy result skips the step.
    when: str | None = None


class FlowDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Lengths, the step id pattern and "at least one step" are checked by validate_flow, so
    # a form learns every problem at once instead of the shape's first.
    name: str
    description: str = ""
    direction: Direction
    trigger: TriggerRef
    steps: list[StepDef]


def parse_flow(data: Mapping[str, Any]) -> FlowDefinition:
    """Build a FlowDefinition from plain data; shape errors become one FlowError."""
    try:
        return FlowDefinition.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = [(field_path(err["loc"]), err["msg"]) for err in exc.errors()]
        # What validate_flow would also have said, so one answer names every problem.
        named = {field for field, _ in problems}
        problems += [p for p in _plain_problems(data) if p[0] not in named]
        raise _flow_error(problems) from None


def _plain_problems(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The plain-words checks of validate_flow that need no catalogue, on raw data."""
    problems: list[tuple[str, str]] = []
    name = data.get("name")
    if isinstance(name, str):
        _check_name(name, problems)
    steps = data.get("steps")
    if isinstance(steps, list):
        if not steps:
            problems.append(("steps", "add at least one action"))
        for index, step in enumerate(steps):
            if isinstance(step, Mapping) and isinstance(step.get("id"), str):
                _check_step_id(f"steps[{index}]", step["id"], problems)
    return problems


def _check_name(name: str, problems: list[tuple[str, str]]) -> None:
    if not name.strip():
        problems.append(("name", "give the flow a name"))
    elif len(name) > MAX_NAME:
        problems.append(("name", f"keep the name under {MAX_NAME + 1} characters"))


def _check_step_id(where: str, step_id: str, problems: list[tuple[str, str]]) -> None:
    if not step_id:
        problems.append((f"{where}.id", "give the action an id, e.g. customer"))
    elif not re.fullmatch(STEP_ID_PATTERN, step_id):
        problems.append(
            (
                f"{where}.id",
                f"{step_id!r} cannot be a step id: use lowercase letters, digits and _, "
                "starting with a letter (e.g. customer)",
            )
        )


def field_path(loc: tuple[int | str, ...]) -> str:
    """("steps", 1, "input", "amount") → "steps[1].input.amount"."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def validate_flow(
    defn: FlowDefinition, registry: spec.Registry, connections: Mapping[str, str]
) -> None:
    """Raise FlowError listing every problem; `connections` maps connection id → app name."""
    problems: list[tuple[str, str]] = []
    _check_name(defn.name, problems)
    _check_trigger(defn, registry, connections, problems)
    if not defn.steps:
        problems.append(("steps", "add at least one action"))
    seen: dict[str, int] = {}
    all_ids = {step.id for step in defn.steps}
    for index, step in enumerate(defn.steps):
        where = f"steps[{index}]"
        _check_step_id(where, step.id, problems)
        if not re.fullmatch(STEP_ID_PATTERN, step.id):
            pass  # reported above
        elif step.id in seen:
            problems.append(
                (f"{where}.id", f"step id {step.id!r} is already used by steps[{seen[step.id]}]")
            )
        else:
            seen[step.id] = index
        earlier = {s.id for s in defn.steps[:index]}
        if step.when is not None:
            _check_expression(f"{where}.when", step.when, STEP_ROOTS, earlier, all_ids, problems)
        action = _resolve_action(where, step, registry, connections, problems)
        if action is None:
            # Without the action, the input keys cannot be checked against a model;
            # their expressions can still be.
            for name, text in step.input.items():
                _check_expression(
                    f"{where}.input.{name}", text, STEP_ROOTS, earlier, all_ids, problems
                )
            continue
        _check_inputs(where, step, action, earlier, all_ids, problems)
    if problems:
        raise _flow_error(problems)


def action_for(
    step: StepDef, registry: spec.Registry, connections: Mapping[str, str]
) -> spec.ActionSpec:
    """The ActionSpec a step of a validated flow calls."""
    return registry.app(connections[step.connection_id]).action(step.action)


def _flow_error(problems: list[tuple[str, str]]) -> errors.FlowError:
    field, message = problems[0]
    # One line (an expression's caret and hint stay in `problems`, beside their field).
    summary = f"{field}: {message.splitlines()[0]}"
    if len(problems) > 1:
        summary += f" (and {len(problems) - 1} more problem(s))"
    return errors.FlowError(summary, field=field, problems=problems)


def _app_of(
    where: str,
    connection_id: str,
    registry: spec.Registry,
    connections: Mapping[str, str],
    problems: list[tuple[str, str]],
) -> spec.AppSpec | None:
    app_name = connections.get(connection_id)
    if app_name is None:
        problems.append((f"{where}.connection_id", f"unknown connection {connection_id!r}"))
        return None
    try:
        return registry.app(app_name)
    except KeyError:
        problems.append(
            (
                f"{where}.connection_id",
                f"connection {connection_id!r} is for app {app_name!r}, which is not installed",
            )
        )
        return None


def _check_trigger(
    defn: FlowDefinition,
    registry: spec.Registry,
    connections: Mapping[str, str],
    problems: list[tuple[str, str]],
) -> None:
    ref = defn.trigger
    if ref.filter is not None:
        _check_expression("trigger.filter", ref.filter, FILTER_ROOTS, set(), set(), problems)
    if not ref.connection_id or not ref.trigger:
        problems.append(("trigger.trigger", "choose the trigger that starts the flow"))
        return
    app = _app_of("trigger", ref.connection_id, registry, connections, problems)
    if app is None:
        return
    expected = SOURCE_APP[defn.direction]
    if app.name != expected:
        problems.append(
            (
                "direction",
                f"{defn.direction.value} flows start from a {expected} trigger, but "
                f"connection {ref.connection_id!r} is a {app.name} connection",
            )
        )
    if ref.trigger not in {t.key for t in app.triggers}:
        offered = ", ".join(t.key for t in app.triggers)
        problems.append(
            ("trigger.trigger", f"{app.name} has no trigger {ref.trigger!r} (offers: {offered})")
        )


def _resolve_action(
    where: str,
    step: StepDef,
    registry: spec.Registry,
    connections: Mapping[str, str],
    problems: list[tuple[str, str]],
) -> spec.ActionSpec | None:
    if not step.connection_id or not step.action:
        problems.append((f"{where}.action", "choose the action to run"))
        return None
    app = _app_of(where, step.connection_id, registry, connections, problems)
    if app is None:
        return None
    try:
        return app.action(step.action)
    except KeyError:
        offered = ", ".join(a.key for a in app.actions)
        problems.append(
            (f"{where}.action", f"{app.name} has no action {step.action!r} (offers: {offered})")
        )
        return None


def _check_inputs(
    where: str,
    step: StepDef,
    action: spec.ActionSpec,
    earlier: set[str],
    all_ids: set[str],
    problems: list[tuple[str, str]],
) -> None:
    fields = action.input_model.model_fields
    accepted = set(fields) | {f.alias for f in fields.values() if f.alias}
    for name, text in step.input.items():
        path = f"{where}.input.{name}"
        if name not in accepted:
            known = ", ".join(fields)
            problems.append((path, f"{action.key} has no input {name!r} (inputs: {known})"))
            continue
        _check_expression(path, text, STEP_ROOTS, earlier, all_ids, problems)
    for name, info in fields.items():
        mapped = name in step.input or name in action.default_input
        if info.alias:
            mapped = mapped or info.alias in step.input
        if info.is_required() and not mapped:
            problems.append(
                (
                    f"{where}.input.{name}",
                    f"{action.key} requires {name!r} and has no default: map it to an expression",
                )
            )


def _check_expression(
    path: str,
    text: str,
    allowed_roots: frozenset[str],
    earlier: set[str],
    all_ids: set[str],
    problems: list[tuple[str, str]],
) -> None:
    complaint = expression.syntax_error(text)
    if complaint is not None:
        problems.append((path, f"invalid JMESPath: {complaint}"))
        return
    refs = expression.references(text)
    for root in sorted(refs.roots - allowed_roots):
        if root in _JSON_WORDS:
            # A common slip: bare null/true/false is a field name in JMESPath.
            problems.append((path, f"{root!r} is read as a field: write `{root}` for the literal"))
            continue
        allowed = " or ".join(f"{r}." for r in sorted(allowed_roots))
        message = f"{root!r} is not in scope: start the path with {allowed}"
        hint = expression.literal_hint(text, root)
        problems.append((path, f"{message} ({hint})" if hint else message))
    if "steps" not in allowed_roots:
        return
    for step_id in sorted(refs.steps - earlier):
        if step_id in all_ids:
            problems.append(
                (path, f"step {step_id!r} does not run before this one: only earlier steps count")
            )
        else:
            problems.append((path, f"no step {step_id!r} in this flow"))
