"""Flows, templates and previews."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from billsync.api.schemas.common import Id
from billsync.app.flow_admin import FlowDetail
from billsync.domain import Direction
from billsync.engine import preview
from billsync.engine.flow import MAX_NAME, STEP_ID_PATTERN
from billsync.engine.templates import FlowTemplate, list_templates

_ID_TEXT = {
    "anyOf": [{"type": "string", "minLength": 1}, {"type": "integer"}],
    "description": "A connection id (a number, or its text).",
}
_EXPRESSION = {"type": "string", "description": "JMESPath (see docs/flows.md)."}

#: The shape of a flow definition as engine/flow.py checks it.
#: What the shape cannot say is checked against the catalogue and the stored connections
#: (triggers, actions and inputs of each connection's app, the direction its trigger
#: implies) and the expressions' JMESPath grammar and scope: 422, every problem named.
DEFINITION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "FlowDefinition",
    "description": "One trigger on a source connection and ordered steps (docs/flows.md).",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": r"\S"},
        "description": {"type": "string", "default": ""},
        "direction": {"type": "string", "enum": [d.value for d in Direction]},
        "trigger": {
            "type": "object",
            "properties": {
                "connection_id": _ID_TEXT,
                "trigger": {"type": "string", "minLength": 1},
                "filter": {"anyOf": [_EXPRESSION, {"type": "null"}]},
            },
            "required": ["connection_id", "trigger"],
            "additionalProperties": False,
        },
        "steps": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "pattern": STEP_ID_PATTERN},
                    "connection_id": _ID_TEXT,
                    "action": {"type": "string", "minLength": 1},
                    "input": {"type": "object", "additionalProperties": _EXPRESSION},
                    "when": {"anyOf": [_EXPRESSION, {"type": "null"}]},
                },
                "required": ["id", "connection_id", "action"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["name", "direction", "trigger", "steps"],
    "additionalProperties": False,
}
#: A definition in a request body (FastAPI hands the route the plain data).
Definition = Annotated[dict[str, Any], WithJsonSchema(DEFINITION_SCHEMA)]

#: Keys only a flow definition has: a body holding them is a bare definition.
_DEFINITION_KEYS = frozenset({"trigger", "steps", "direction"})


def _wrap_bare_definition(data: Any) -> Any:
    """A flow definition posted as the body itself (the shape of docs/flows.md and of
    `billsync flows add -f`) means `{"definition": <it>}`; `enabled` may sit beside it."""
    if isinstance(data, dict) and "definition" not in data and _DEFINITION_KEYS & data.keys():
        rest = dict(data)
        wrapped: dict[str, Any] = {}
        if "enabled" in rest:
            wrapped["enabled"] = rest.pop("enabled")
        wrapped["definition"] = rest
        return wrapped
    return data


def _template_branch(template: FlowTemplate) -> dict[str, Any]:
    """What POST /flows takes for one template: its key, a connection id for each of its
    apps, and only its own options."""
    return {
        "title": f"template {template.key}",
        "required": ["template", "connections"],
        "properties": {
            "template": {"const": template.key},
            "connections": {
                "type": "object",
                "required": list(template.apps),
                "properties": {app: {"type": "integer"} for app in template.apps},
            },
            "options": {
                "type": "object",
                "properties": {o.key: {"type": "boolean"} for o in template.options},
                "additionalProperties": False,
            },
            "definition": {"type": "null"},
        },
    }


class FlowCreate(BaseModel):
    """Either `template` with `connections` (app name → connection id), or `definition`.

    A flow definition posted as the whole body (as in docs/flows.md) is accepted too."""

    # The schema states the either-or (the endpoint refuses both and neither with 422),
    # and for each template the connections it needs and the options it has.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                *(_template_branch(t) for t in list_templates()),
                {
                    "title": "a definition",
                    "required": ["definition"],
                    "properties": {"definition": {"type": "object"}, "template": {"type": "null"}},
                },
            ]
        },
    )

    _bare = model_validator(mode="before")(_wrap_bare_definition)

    template: str | None = Field(default=None, min_length=1)
    connections: dict[str, Id] = Field(default_factory=dict)
    #: The template's options (see GET /templates), e.g. {"partial_payment": true}.
    options: dict[str, bool] = Field(default_factory=dict)
    #: Overrides the template's name.
    name: str | None = Field(default=None, min_length=1, max_length=200)
    #: A full flow definition (see docs/flows.md): name, direction, trigger, steps.
    definition: Definition | None = None
    enabled: bool = False


class FlowUpdate(BaseModel):
    """`{"definition": …}`, or the definition itself as the body."""

    model_config = ConfigDict(extra="forbid")

    _bare = model_validator(mode="before")(_wrap_bare_definition)

    definition: Definition


class FlowPreviewRequest(BaseModel):
    """A sample payload or a stored event; the flow's current definition unless given."""

    model_config = ConfigDict(extra="forbid")

    payload: dict[str, Any] | None = None
    #: A stored event's id (404 when there is none).
    event_id: Id | None = None
    definition: Definition | None = None


class FlowPublic(BaseModel):
    id: int
    name: str
    enabled: bool
    current_version: int
    template_key: str | None
    created_at: datetime
    updated_at: datetime
    definition: dict[str, Any]
    versions: list[int]

    @classmethod
    def of(cls, detail: FlowDetail) -> FlowPublic:
        flow = detail.flow
        return cls(
            id=flow.id,
            name=flow.name,
            enabled=flow.enabled,
            current_version=flow.current_version,
            template_key=flow.template_key,
            created_at=flow.created_at,
            updated_at=flow.updated_at,
            definition=detail.definition,
            versions=detail.versions,
        )


class FlowCreatedPublic(FlowPublic):
    #: Flows created with it from the template's companions (e.g. paid + partially paid).
    companion_ids: list[int] = Field(default_factory=list)


class TemplateStepPublic(BaseModel):
    id: str
    app: str
    action: str
    input: dict[str, str]
    when: str | None


class TemplateOptionPublic(BaseModel):
    key: str
    title: str
    description: str
    default: bool


class TemplatePublic(BaseModel):
    key: str
    name: str
    description: str
    direction: str
    trigger_app: str
    trigger: str
    filter: str | None
    apps: list[str]
    companions: list[str]
    steps: list[TemplateStepPublic]
    #: Yes/no choices for POST /flows {template, connections, options}.
    options: list[TemplateOptionPublic] = Field(default_factory=list)

    @classmethod
    def of(cls, t: FlowTemplate) -> TemplatePublic:
        return cls(
            key=t.key,
            name=t.name,
            description=t.description,
            direction=t.direction.value,
            trigger_app=t.trigger_app,
            trigger=t.trigger,
            filter=t.filter,
            apps=list(t.apps),
            companions=list(t.companions),
            steps=[
                TemplateStepPublic(
                    id=s.id, app=s.app, action=s.action, input=dict(s.input or {}), when=s.when
                )
                for s in t.steps
            ],
            options=[
                TemplateOptionPublic(
                    key=o.key, title=o.title, description=o.description, default=o.default
                )
                for o in t.options
            ],
        )


class StepPreviewPublic(BaseModel):
    step_id: str
    app: str
    action: str
    writes: bool
    status: str
    input: dict[str, Any] | None
    output: dict[str, Any] | None
    error: str | None
    reason: str | None


class FlowPreviewPublic(BaseModel):
    trigger_matched: bool
    steps: list[StepPreviewPublic]

    @classmethod
    def of(cls, result: preview.FlowPreview) -> FlowPreviewPublic:
        return cls(
            trigger_matched=result.trigger_matched,
            steps=[
                StepPreviewPublic(
                    step_id=s.step_id,
                    app=s.app,
                    action=s.action,
                    writes=s.writes,
                    status=s.status.value,
                    input=s.input,
                    output=s.output,
                    error=s.error,
                    reason=s.reason,
                )
                for s in result.steps
            ],
        )
