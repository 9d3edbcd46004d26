"""Connection operations shared by the faces: create (verified first), find, webhook URLs.

A connection is saved only after the app's `verify()` accepted its credentials. Secret
fields are encrypted by the vault; apps that sign nothing (Togai) get a random webhook
token, the secret part of their webhook URL:

    POST {public_url}/webhooks/razorpay/{connection_id}          signed with webhook_secret
    POST {public_url}/webhooks/togai/{connection_id}/{token}     authenticated by the token
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from billsync import errors
from billsync.app import connection_fields
from billsync.app.root import App
from billsync.connectors import spec
from billsync.engine.clients import close_client
from billsync.store import audit
from billsync.store import connections as store
from billsync.store.models import Connection

log = structlog.get_logger(__name__)

#: How much of a webhook URL token is shown after creation (enough to tell two apart).
TOKEN_PREFIX_SHOWN = 4


class InvalidConnectionError(errors.FlowError):
    """The connection's fields are invalid."""


#: The longest connection name (the column's width: a longer one would fail in the database).
MAX_NAME_LENGTH = 120


def check_name(name: str) -> None:
    """Refuse a blank or too long connection name (every face: API, CLI, UI)."""
    if not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise InvalidConnectionError(
            f"a connection name must be 1 to {MAX_NAME_LENGTH} characters", field="name"
        )


@dataclass(frozen=True)
class ConnectionInfo:
    """What faces may show: never a secret value. The Togai URL token is shown once, when
    the connection is created and after a rotation (like a provider's signing secret);
    every other read shows only its first characters."""

    id: int
    app: str
    name: str
    options: dict[str, Any]
    rate_limit: float | None
    webhook_url: str


def split_values(
    app_spec: spec.AppSpec, values: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """(secrets, options) from a form's values; defaults filled, unknown or missing refused."""
    known = {f.name: f for f in app_spec.fields}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise InvalidConnectionError(
            f"{app_spec.name} has no connection field {unknown[0]!r}", field=unknown[0]
        )
    secret_values: dict[str, str] = {}
    options: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    sandbox_field = known.get("sandbox")
    sandbox = (values.get("sandbox") or (sandbox_field.default if sandbox_field else "")) == "yes"
    for name, definition in known.items():
        value = values.get(name) or definition.default or ""
        problem = connection_fields.value_problem(definition, value, sandbox=sandbox)
        if problem is not None:
            problems.append((name, problem))
            continue
        if value:
            (secret_values if definition.secret else options)[name] = value
    if problems:
        field, message = problems[0]
        raise InvalidConnectionError(f"{field}: {message}", field=field, problems=problems)
    return secret_values, options


def url_changes(
    app_spec: spec.AppSpec, old: Mapping[str, Any], new: Mapping[str, Any]
) -> dict[str, dict[str, str | None]]:
    """{field: {"old", "new"}} for each URL field (the host secrets go to) that changes:
    what the audit log records about a move (URLs hold no credentials: base_url refuses
    user:pass@)."""
    return {
        f.name: {"old": old.get(f.name), "new": new.get(f.name)}
        for f in app_spec.fields
        if f.url and old.get(f.name) != new.get(f.name)
    }


def webhook_url(app: App, row: Connection, *, reveal: bool = False) -> str:
    """The connection's webhook URL; a URL token only in full when `reveal` (creation and
    rotation), otherwise its first characters followed by "...": not a usable URL."""
    base = f"{app.public_url}/webhooks/{row.app}/{row.id}"
    token = store.webhook_token(app.vault, row)
    if not token:
        return base
    return f"{base}/{token}" if reveal else f"{base}/{token[:TOKEN_PREFIX_SHOWN]}..."


def info(app: App, row: Connection, *, reveal: bool = False) -> ConnectionInfo:
    return ConnectionInfo(
        id=row.id,
        app=row.app,
        name=row.name,
        options=dict(row.options),
        rate_limit=row.rate_limit,
        webhook_url=webhook_url(app, row, reveal=reveal),
    )


def unverified_message(app_spec: spec.AppSpec) -> str:
    """The one answer to every failed verification but refused credentials: whether the
    host was unreachable, answered something else, or answered an error, the caller learns
    nothing more (base_url must not work as a port scanner); the server log has details."""
    return (
        f"Could not verify the connection: no {app_spec.title} API answered as expected at "
        "its base URL (check the URL and that this server can reach it; details are in the "
        "server log)"
    )


async def verify_values(app: App, app_spec: spec.AppSpec, values: Mapping[str, str]) -> None:
    """Call the app with these credentials. Raises AuthError (the app refused them; its
    message is the connector's fixed text) or UnavailableError with unverified_message()."""
    probe = Connection(app=app_spec.name, name="(verifying)", options={})
    client = app_spec.make_client(
        dict(values), transport=app.transport_for(probe), timeout=app.settings.http_timeout
    )
    try:
        await app_spec.verify(client)
    except errors.AuthError as exc:
        log.warning(
            "connection verification: credentials refused",
            app=app_spec.name,
            detail=exc.internal_message,
        )
        raise
    except errors.ConnectorError as exc:
        log.warning(
            "connection verification failed",
            app=app_spec.name,
            error=type(exc).__name__,
            message=exc.message,
            detail=exc.internal_message,
        )
        raise errors.UnavailableError(
            unverified_message(app_spec), app=app_spec.name, operation="verify"
        ) from exc
    finally:
        await close_client(client)


async def create(
    app: App,
    *,
    app_name: str,
    name: str,
    values: Mapping[str, str],
    rate_limit: float | None = None,
    actor: str = "system",
    verify: bool = True,
) -> ConnectionInfo:
    """Verify the credentials, then save the connection (secrets encrypted)."""
    try:
        app_spec = app.registry.app(app_name)
    except KeyError:
        raise InvalidConnectionError(f"unknown app {app_name!r}", field="app") from None
    check_name(name)
    secret_values, options = split_values(app_spec, values)
    if verify:
        await verify_values(app, app_spec, {**options, **secret_values})
    token = secrets.token_urlsafe(24) if app_spec.verify_webhook is None else None
    now = app.clock.now()
    async with app.db.write() as session:
        if await store.by_name(session, app_name, name) is not None:
            raise errors.NameTakenError(
                f"a {app_name} connection named {name!r} already exists", field="name"
            )
        row = await store.create(
            session,
            app.vault,
            app=app_name,
            name=name,
            secrets=secret_values,
            options=options,
            rate_limit=rate_limit,
            webhook_token=token,
            now=now,
        )
        await audit.record(
            session,
            actor=actor,
            action="connection.create",
            target=f"connection:{row.id}",
            now=now,
            detail={"app": app_name, "name": name},
        )
    # The one time a Togai webhook URL is shown whole (besides a rotation).
    return info(app, row, reveal=True)


async def find(app: App, app_name: str, name: str) -> ConnectionInfo | None:
    async with app.db.read() as session:
        row = await store.by_name(session, app_name, name)
    return None if row is None else info(app, row)


async def get(app: App, connection_id: int) -> ConnectionInfo | None:
    async with app.db.read() as session:
        row = await store.get(session, connection_id)
    return None if row is None else info(app, row)


async def ensure(
    app: App,
    *,
    app_name: str,
    name: str,
    values: Mapping[str, str],
    actor: str = "system",
) -> ConnectionInfo:
    """The connection called `name`, created (verified) if missing, or updated to `values`
    when they changed (the demo re-run on an existing database)."""
    app_spec = app.registry.app(app_name)
    secret_values, options = split_values(app_spec, values)
    async with app.db.read() as session:
        row = await store.by_name(session, app_name, name)
    if row is None:
        return await create(app, app_name=app_name, name=name, values=values, actor=actor)
    current = store.secret_values(app.vault, row)
    # `ensure` is how billsync sets itself up (the demo registers the webhook URLs at the
    # sandboxes), so it gets the whole URL; no face calls it.
    if current == secret_values and row.options == options:
        return info(app, row, reveal=True)
    await verify_values(app, app_spec, {**options, **secret_values})
    async with app.db.write() as session:
        updated = await store.update(
            session,
            app.vault,
            row.id,
            now=app.clock.now(),
            secrets=secret_values,
            options=options,
        )
        await audit.record(
            session,
            actor=actor,
            action="connection.update",
            target=f"connection:{row.id}",
            now=app.clock.now(),
            detail={
                "app": app_name,
                "name": name,
                **url_changes(app_spec, row.options, options),
            },
        )
    if updated is None:
        raise errors.ConfigError(f"connection {name!r} vanished while being updated")
    return info(app, updated, reveal=True)
