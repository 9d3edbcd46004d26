"""The apps catalogue: what each app offers (fields, triggers, actions)."""

from __future__ import annotations

from pydantic import BaseModel

from billsync.connectors import spec


class FieldPublic(BaseModel):
    name: str
    label: str
    secret: bool
    required: bool
    default: str | None
    description: str
    choices: list[str]


class TriggerPublic(BaseModel):
    key: str
    title: str
    description: str
    webhook: bool
    polling: bool


class ActionPublic(BaseModel):
    key: str
    title: str
    description: str
    idempotency: str
    writes: bool
    inputs: list[str]
    default_input: dict[str, str]


class AppPublic(BaseModel):
    name: str
    title: str
    description: str
    fields: list[FieldPublic]
    triggers: list[TriggerPublic]
    actions: list[ActionPublic]

    @classmethod
    def of(cls, app: spec.AppSpec) -> AppPublic:
        return cls(
            name=app.name,
            title=app.title,
            description=app.description,
            fields=[
                FieldPublic(
                    name=f.name,
                    label=f.label,
                    secret=f.secret,
                    required=f.required,
                    default=f.default,
                    description=f.description,
                    choices=list(f.choices),
                )
                for f in app.fields
            ],
            triggers=[
                TriggerPublic(
                    key=t.key,
                    title=t.title,
                    description=t.description,
                    webhook=t.webhook,
                    polling=t.polling,
                )
                for t in app.triggers
            ],
            actions=[
                ActionPublic(
                    key=a.key,
                    title=a.title,
                    description=a.description,
                    idempotency=a.idempotency,
                    writes=a.writes,
                    inputs=list(a.input_model.model_fields),
                    default_input=dict(a.default_input),
                )
                for a in app.actions
            ],
        )
