"""Connection operations beyond creation: list, update, delete, test, rotate the webhook
secret. (Creation, lookup and webhook URLs are in app/connections.py.)

Changed credentials are verified with the app before they are saved, like new ones.
Audit entries name the fields that changed, never their values.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from billsync import errors
from billsync.app import connection_fields, connections
from billsync.app.root import App
from billsync.connectors import spec
from billsync.store import audit, events
from billsync.store import connections as store
from billsync.store import flows as flow_store
from billsync.store.models import Connection

_UNSET: Any = object()


class ConnectionNotFoundError(errors.SyncError):
    """No connection has that id."""


class ConnectionInUseError(errors.SyncError):
    """The connection is still used and cannot be removed."""


@dataclass(frozen=True)
class TestResult:
    ok: bool
    #: Why the app refused (safe to show: connector messages never hold secrets).
    error: str | None = None


async def _row(app: App, connection_id: int) -> Connection:
    async with app.db.read() as session:
        row = await store.get(session, connection_id)
    if row is None:
        raise ConnectionNotFoundError(f"no connection {connection_id}")
    return row


async def list_all(app: App, app_name: str | None = None) -> list[connections.ConnectionInfo]:
    async with app.db.read() as session:
        rows = await store.list_all(session, app_name)
    return [connections.info(app, row) for row in rows]


async def update(
    app: App,
    connection_id: int,
    *,
    name: str | None = None,
    values: Mapping[str, str] | None = None,
    rate_limit: float | None = _UNSET,
    actor: str = "cli",
) -> connections.ConnectionInfo:
    """Rename, change field values (merged over the stored ones) or the rate limit.

    Moving a connection to another host (a URL field such as base_url changes) requires its
    outbound secrets in the same call: the stored ones were entered for the old host and
    are never sent anywhere else (not even to verify). The audit entry names the changed
    fields, the old and new URL, and which secrets were entered, never their values."""
    row = await _row(app, connection_id)
    app_spec = app.registry.app(row.app)
    if name is not None:
        connections.check_name(name)
    changed: list[str] = []
    secret_values: dict[str, str] | None = None
    options: dict[str, str] | None = None
    detail: dict[str, Any] = {}
    if values:
        current = store.values(app.vault, row)
        secret_values, options = connections.split_values(app_spec, {**current, **values})
        changed = sorted(k for k in values if current.get(k) != values[k])
        moved = connections.url_changes(app_spec, row.options, options)
        if moved:
            _require_secrets_for_move(app_spec, store.secret_values(app.vault, row), values)
            detail.update(moved)
            detail["secrets_entered"] = sorted(
                f.name for f in app_spec.fields if f.secret and values.get(f.name)
            )
        if changed:
            await connections.verify_values(app, app_spec, {**options, **secret_values})
    if name is not None and name != row.name:
        changed.append("name")
    if rate_limit is not _UNSET and rate_limit != row.rate_limit:
        changed.append("rate_limit")
    now = app.clock.now()
    async with app.db.write() as session:
        if "name" in changed and await store.by_name(session, row.app, name or "") is not None:
            raise errors.NameTakenError(
                f"a {row.app} connection named {name!r} already exists", field="name"
            )
        updated = await store.update(
            session,
            app.vault,
            connection_id,
            now=now,
            name=name,
            secrets=secret_values,
            options=options,
            rate_limit=row.rate_limit if rate_limit is _UNSET else rate_limit,
        )
        if updated is None:
            raise ConnectionNotFoundError(f"no connection {connection_id}")
        if changed:
            await audit.record(
                session,
                actor=actor,
                action="connection.update",
                target=f"connection:{connection_id}",
                now=now,
                detail={"fields": changed, **detail},
            )
    await app.clients.forget(connection_id)
    app.limiters.forget(str(connection_id))
    return connections.info(app, updated)


def _require_secrets_for_move(
    app_spec: spec.AppSpec, stored: Mapping[str, str], given: Mapping[str, str]
) -> None:
    """Refuse a host change unless every stored outbound secret is given again."""
    missing = [
        f
        for f in app_spec.fields
        if f.secret and f.outbound and stored.get(f.name) and not given.get(f.name)
    ]
    if missing:
        names = ", ".join(f.name for f in missing)
        raise connections.InvalidConnectionError(
            f"changing the API base URL sends the credentials to a new host: enter {names} "
            "again in the same request (stored secrets never leave for another host)",
            field=missing[0].name,
            problems=[
                (f.name, f"{f.label} must be entered again when the base URL changes")
                for f in missing
            ],
        )


async def _flows_using(app: App, connection_id: int) -> list[str]:
    wanted = str(connection_id)
    names: list[str] = []
    async with app.db.read() as session:
        for flow in await flow_store.list_all(session):
            pair = await flow_store.current(session, flow.id)
            if pair is None:
                continue
            definition = pair[1].definition
            used = {str(definition.get("trigger", {}).get("connection_id"))}
            used |= {str(s.get("connection_id")) for s in definition.get("steps", [])}
            if wanted in used:
                names.append(flow.name)
    return names


async def delete(app: App, connection_id: int, *, actor: str = "cli") -> None:
    """Remove a connection no flow uses and no event came from (its history stays whole)."""
    row = await _row(app, connection_id)
    using = await _flows_using(app, connection_id)
    if using:
        raise ConnectionInUseError(
            f"connection {row.name!r} is used by flow(s) {', '.join(sorted(using))}: "
            "change or remove them first"
        )
    now = app.clock.now()
    async with app.db.write() as session:
        if await events.list_recent(session, connection_id=connection_id, limit=1):
            raise ConnectionInUseError(
                f"connection {row.name!r} has received events; removing it would orphan "
                "their history (edit its credentials instead)"
            )
        if not await store.delete(session, connection_id):
            raise ConnectionNotFoundError(f"no connection {connection_id}")
        await audit.record(
            session,
            actor=actor,
            action="connection.delete",
            target=f"connection:{connection_id}",
            now=now,
            detail={"app": row.app, "name": row.name},
        )
    await app.clients.forget(connection_id)
    app.limiters.forget(str(connection_id))


async def test(app: App, connection_id: int) -> TestResult:
    """Call the app with the stored credentials."""
    row = await _row(app, connection_id)
    app_spec = app.registry.app(row.app)
    try:
        await connections.verify_values(app, app_spec, store.values(app.vault, row))
    except (errors.ConnectorError, errors.ConfigError) as exc:
        return TestResult(ok=False, error=exc.message)
    return TestResult(ok=True)


async def rotate_webhook_secret(
    app: App, connection_id: int, *, new_secret: str | None = None, actor: str = "cli"
) -> connections.ConnectionInfo:
    """Apps authenticated by URL token (Togai) get a new token, hence a new webhook URL.
    Apps that sign deliveries (Razorpay) take the new secret set at the provider."""
    row = await _row(app, connection_id)
    app_spec = app.registry.app(row.app)
    now = app.clock.now()
    if app_spec.verify_webhook is None and new_secret:
        raise connections.InvalidConnectionError(
            f"{row.app} webhooks are authenticated by their URL token: leave webhook_secret "
            "out (a new URL is made)",
            field="webhook_secret",
        )
    if new_secret and len(new_secret) > connection_fields.MAX_VALUE_LENGTH:
        raise connections.InvalidConnectionError(
            f"webhook_secret must be at most {connection_fields.MAX_VALUE_LENGTH} characters",
            field="webhook_secret",
        )
    async with app.db.write() as session:
        if app_spec.verify_webhook is None:
            updated = await store.update(
                session,
                app.vault,
                connection_id,
                now=now,
                webhook_token=secrets.token_urlsafe(24),
            )
        else:
            if not new_secret:
                raise connections.InvalidConnectionError(
                    f"{row.app} signs its webhooks: give webhook_secret, the new secret set at "
                    f"{row.app}",
                    field="webhook_secret",
                )
            updated = await store.update(
                session, app.vault, connection_id, now=now, secrets={"webhook_secret": new_secret}
            )
        if updated is None:
            raise ConnectionNotFoundError(f"no connection {connection_id}")
        await audit.record(
            session,
            actor=actor,
            action="connection.rotate_webhook_secret",
            target=f"connection:{connection_id}",
            now=now,
        )
    await app.clients.forget(connection_id)
    # The new URL is shown this once (it is the only way to learn it).
    return connections.info(app, updated, reveal=True)
