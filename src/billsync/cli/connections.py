"""`billsync connections add|list|show|test|remove|rotate-secret`."""

from __future__ import annotations

import difflib
from typing import Any

import typer

from billsync.app import App, connection_admin, connections
from billsync.cli.context import (
    ACTOR,
    DB_HELP,
    JSON_HELP,
    console,
    fail,
    print_fields,
    print_json,
    print_table,
    run,
)
from billsync.connectors import catalogue
from billsync.connectors.spec import AppSpec

app = typer.Typer(help="Connections: credentials for one Togai or Razorpay account.")

DB = typer.Option(None, "--db", help=DB_HELP)
JSON = typer.Option(False, "--json", help=JSON_HELP)


def _values(pairs: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"expected FIELD=VALUE, got {pair!r}", param_hint="--value")
        values[name.strip()] = value
    return values


def _checked_spec(app_name: str, values: dict[str, str]) -> AppSpec:
    """The app's declaration, once the app and every given field are known: a typo is
    reported before any secret is asked for."""
    registry = catalogue.default_registry()
    try:
        spec = registry.app(app_name)
    except KeyError:
        fail(f"unknown app {app_name!r} (apps: {', '.join(a.name for a in registry.apps)})")
    known = [f.name for f in spec.fields]
    for name in sorted(set(values) - set(known)):
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        fail(f"{app_name} has no connection field {name!r}: {hint}(fields: {', '.join(known)})")
    return spec


def _prompt_secrets(spec: AppSpec, values: dict[str, str]) -> dict[str, str]:
    """Ask for required secret fields not given on the command line (typed, not echoed)."""
    for field in spec.fields:
        if field.secret and field.required and not values.get(field.name):
            values[field.name] = typer.prompt(field.label, hide_input=True)
    return values


def _show(info: connections.ConnectionInfo) -> list[tuple[str, Any]]:
    return [
        ("id", info.id),
        ("app", info.app),
        ("name", info.name),
        ("options", info.options),
        ("rate limit", info.rate_limit),
        ("webhook URL", info.webhook_url),
    ]


@app.command("add")
def add(
    app_name: str = typer.Argument(..., metavar="APP", help="togai or razorpay"),
    name: str = typer.Argument(..., help="A name for this connection."),
    value: list[str] = typer.Option(
        [], "--value", "-v", help="FIELD=VALUE (repeatable); missing secrets are prompted."
    ),
    rate_limit: float | None = typer.Option(None, help="Requests per second toward the app."),
    as_json: bool = JSON,
    db: str | None = DB,
) -> None:
    """Verify the credentials with the app, then save the connection."""
    given = _values(value)
    values = _prompt_secrets(_checked_spec(app_name, given), given)

    async def op(app: App) -> connections.ConnectionInfo:
        return await connections.create(
            app, app_name=app_name, name=name, values=values, rate_limit=rate_limit, actor=ACTOR
        )

    info = run(db, op, create=True)
    if as_json:
        print_json(info)
        return
    console.print(f"Connection {info.id} saved. Webhook URL: {info.webhook_url}", highlight=False)


@app.command("list")
def list_(
    app_name: str | None = typer.Option(None, "--app", help="Only this app's connections."),
    as_json: bool = JSON,
    db: str | None = DB,
) -> None:
    """Every connection (secrets are never shown)."""
    rows = run(db, lambda app: connection_admin.list_all(app, app_name))
    if as_json:
        print_json(rows)
        return
    print_table(
        "Connections",
        ["id", "app", "name", "rate limit", "webhook URL"],
        [[c.id, c.app, c.name, c.rate_limit, c.webhook_url] for c in rows],
    )


@app.command("show")
def show(connection_id: int, as_json: bool = JSON, db: str | None = DB) -> None:
    """One connection: options and webhook URL (never a secret)."""
    info = run(db, lambda app: connections.get(app, connection_id))
    if info is None:
        fail(f"no connection {connection_id}")
    if as_json:
        print_json(info)
        return
    print_fields(f"Connection {connection_id}", _show(info))


@app.command("test")
def test(connection_id: int, as_json: bool = JSON, db: str | None = DB) -> None:
    """Call the app with the stored credentials; exit 1 if it refuses."""
    result = run(db, lambda app: connection_admin.test(app, connection_id))
    if as_json:
        print_json(result)
    elif result.ok:
        console.print(f"Connection {connection_id}: OK")
    if not result.ok:
        fail(f"connection {connection_id} failed: {result.error}")


@app.command("remove")
def remove(connection_id: int, db: str | None = DB) -> None:
    """Remove a connection that no flow uses and that never received an event."""
    run(db, lambda app: connection_admin.delete(app, connection_id, actor=ACTOR))
    console.print(f"Connection {connection_id} removed.")


@app.command("rotate-secret")
def rotate_secret(
    connection_id: int,
    webhook_secret: str | None = typer.Option(
        None,
        help="Razorpay: the new webhook secret set in the Dashboard (prompted if missing).",
    ),
    db: str | None = DB,
) -> None:
    """Togai: a new webhook URL token. Razorpay: store the new webhook secret."""

    async def op(app: App) -> connections.ConnectionInfo:
        secret = webhook_secret
        info = await connections.get(app, connection_id)
        signs = info is not None and app.registry.app(info.app).verify_webhook is not None
        if signs and not secret:
            secret = typer.prompt("New webhook secret", hide_input=True)
        return await connection_admin.rotate_webhook_secret(
            app, connection_id, new_secret=secret, actor=ACTOR
        )

    info = run(db, op)
    console.print(f"Webhook URL: {info.webhook_url}", highlight=False)
