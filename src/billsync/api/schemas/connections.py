"""Connections: credentials go in, never come out (responses show the webhook URL)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat

from billsync.app import connection_fields
from billsync.app.connections import MAX_NAME_LENGTH, ConnectionInfo


class ConnectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=r"\S")
    #: Field name → value, secret fields included (see GET /apps for the fields). The
    #: OpenAPI document states each app's fields (api/schemas/connection_values.py).
    values: dict[str, str] = Field(default_factory=dict)
    #: Requests per second toward the app; null: the default.
    rate_limit: StrictFloat | None = Field(default=None, ge=0, le=1_000_000)


class ConnectionUpdate(BaseModel):
    """Only the fields given change; `values` are merged over the stored ones."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH, pattern=r"\S")
    values: dict[str, str] | None = None
    rate_limit: StrictFloat | None = Field(default=None, ge=0, le=1_000_000)


class WebhookSecretRotate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Apps that sign deliveries (Razorpay): the new secret set at the provider (required).
    #: Apps authenticated by URL token (Togai): leave out; a new URL is generated.
    #: Which applies is the stored connection's app: the wrong one for it answers 409.
    webhook_secret: str | None = Field(
        default=None, min_length=1, max_length=connection_fields.MAX_VALUE_LENGTH
    )


class ConnectionPublic(BaseModel):
    id: int
    app: str
    name: str
    options: dict[str, Any]
    rate_limit: float | None
    webhook_url: str

    @classmethod
    def of(cls, info: ConnectionInfo) -> ConnectionPublic:
        return cls(
            id=info.id,
            app=info.app,
            name=info.name,
            options=info.options,
            rate_limit=info.rate_limit,
            webhook_url=info.webhook_url,
        )


class ConnectionTestPublic(BaseModel):
    ok: bool
    error: str | None = None
