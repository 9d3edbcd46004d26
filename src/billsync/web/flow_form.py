"""The flow wizard's form ↔ a flow definition, and flow problems ↔ the form's fields.

Form names: `name`, `description`, `direction`, `trigger_target` ("<connection id>:<trigger>"),
`filter`, and per step `i` (listed in the repeated `step` field, so removed steps leave
gaps): `steps-i-id`, `steps-i-target` ("<connection id>:<action>"), `steps-i-when` and
`steps-i-input-<field>` (a JMESPath override; empty means the action's default).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from billsync.connectors import spec
from billsync.web.ui import text

_STEP_PATH = re.compile(r"^steps\[(\d+)\](?:\.(\w+))?(?:\.(.+))?$")


@dataclass
class StepForm:
    index: int
    id: str = ""
    target: str = ""
    when: str = ""
    inputs: dict[str, str] = field(default_factory=dict)

    @property
    def connection_id(self) -> str:
        return self.target.partition(":")[0]

    @property
    def action(self) -> str:
        return self.target.partition(":")[2]


@dataclass
class FlowForm:
    name: str = ""
    description: str = ""
    direction: str = "outbound"
    trigger_target: str = ""
    filter: str = ""
    sample_event: str = ""
    enabled: bool = True
    steps: list[StepForm] = field(default_factory=list)

    def definition(self) -> dict[str, Any]:
        """Plain data for engine.flow.parse_flow (which reports shape problems)."""
        connection_id, _, trigger = self.trigger_target.partition(":")
        return {
            "name": self.name,
            "description": self.description,
            "direction": self.direction,
            "trigger": {
                "connection_id": connection_id,
                "trigger": trigger,
                "filter": self.filter or None,
            },
            "steps": [
                {
                    "id": s.id,
                    "connection_id": s.connection_id,
                    "action": s.action,
                    "input": {k: v for k, v in s.inputs.items() if v},
                    "when": s.when or None,
                }
                for s in self.steps
            ],
        }


def from_form(data: FormData) -> FlowForm:
    form = FlowForm(
        name=text(data, "name"),
        description=text(data, "description"),
        direction=text(data, "direction") or "outbound",
        trigger_target=text(data, "trigger_target"),
        filter=text(data, "filter"),
        sample_event=text(data, "sample_event"),
        enabled=text(data, "enabled") == "1",
    )
    seen: set[int] = set()
    for raw in data.getlist("step"):
        if not isinstance(raw, str) or not raw.isdigit() or int(raw) in seen:
            continue
        index = int(raw)
        seen.add(index)
        prefix = f"steps-{index}-"
        inputs = {
            key.removeprefix(f"{prefix}input-"): value.strip()
            for key, value in data.multi_items()
            if key.startswith(f"{prefix}input-") and isinstance(value, str)
        }
        form.steps.append(
            StepForm(
                index=index,
                id=text(data, f"{prefix}id"),
                target=text(data, f"{prefix}target"),
                when=text(data, f"{prefix}when"),
                inputs=inputs,
            )
        )
    return form


def from_definition(definition: Mapping[str, Any]) -> FlowForm:
    trigger = definition.get("trigger") or {}
    return FlowForm(
        name=str(definition.get("name", "")),
        description=str(definition.get("description", "")),
        direction=str(definition.get("direction", "outbound")),
        trigger_target=f"{trigger.get('connection_id', '')}:{trigger.get('trigger', '')}",
        filter=str(trigger.get("filter") or ""),
        steps=[
            StepForm(
                index=i,
                id=str(s.get("id", "")),
                target=f"{s.get('connection_id', '')}:{s.get('action', '')}",
                when=str(s.get("when") or ""),
                inputs={str(k): str(v) for k, v in (s.get("input") or {}).items()},
            )
            for i, s in enumerate(definition.get("steps") or [])
        ],
    )


#: Pydantic's wording for the wizard's most common slips, said the way a form says it.
_PLAIN = (
    ("String should have at least 1 character", "Required"),
    ("String should match pattern", "Use a-z, 0-9 and _, starting with a letter (e.g. customer)"),
    ("List should have at least 1 item", "Add at least one action"),
)


def plain(message: str) -> str:
    for start, replacement in _PLAIN:
        if message.startswith(start):
            return replacement
    return message


def field_errors(form: FlowForm, problems: list[tuple[str, str]]) -> dict[str, str]:
    """FlowError problems keyed by the form field each names ("_" when none fits)."""
    found: dict[str, str] = {}
    for path, message in problems:
        found.setdefault(_form_key(form, path), plain(message))
    return found


def _form_key(form: FlowForm, path: str) -> str:
    if path in ("name", "description", "direction"):
        return path
    if path == "trigger.filter":
        return "filter"
    if path.startswith("trigger"):
        return "trigger_target"
    match = _STEP_PATH.match(path)
    if match is None:
        return "steps" if path == "steps" else "_"
    position, part, rest = int(match.group(1)), match.group(2), match.group(3)
    if position >= len(form.steps):
        return "steps"
    prefix = f"steps-{form.steps[position].index}-"
    if part == "id":
        return f"{prefix}id"
    if part == "when":
        return f"{prefix}when"
    if part == "input" and rest:
        return f"{prefix}input-{rest}"
    return f"{prefix}target"


@dataclass(frozen=True)
class InputField:
    name: str
    required: bool
    default: str  #: the action's default expression, '' when none
    description: str


def input_fields(action: spec.ActionSpec) -> list[InputField]:
    """An action's inputs, as the wizard offers them for overriding."""
    result = []
    for name, info in action.input_model.model_fields.items():
        result.append(
            InputField(
                name=name,
                required=info.is_required(),
                default=action.default_input.get(name, ""),
                description=info.description or "",
            )
        )
    return result
