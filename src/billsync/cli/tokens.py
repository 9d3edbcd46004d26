"""`billsync tokens create|list|revoke`: admin tokens for the REST API."""

from __future__ import annotations

import typer

from billsync.app import tokens as token_ops
from billsync.cli.context import (
    ACTOR,
    DB_HELP,
    JSON_HELP,
    console,
    fail,
    print_json,
    print_table,
    run,
)

app = typer.Typer(help="Admin tokens for the REST API (sent as Authorization: Bearer ...).")

DB = typer.Option(None, "--db", help=DB_HELP)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="Who or what uses it; shown in the audit log."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    db: str | None = DB,
) -> None:
    """Create a token and print it once (only its digest is stored)."""
    info, token = run(db, lambda app: token_ops.create(app, name, actor=ACTOR), create=True)
    if as_json:
        print_json({"name": info.name, "token": token, "created_at": info.created_at})
        return
    console.print(f"Token {info.name!r} created. Store it now, it is not shown again:")
    typer.echo(token)


@app.command("list")
def list_(
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP), db: str | None = DB
) -> None:
    """Every token: name, when created, last used, revoked (never the token)."""
    rows = run(db, token_ops.list_all)
    if as_json:
        print_json(rows)
        return
    print_table(
        "Admin tokens",
        ["name", "created", "last used", "revoked"],
        [[t.name, t.created_at, t.last_used_at, t.revoked_at] for t in rows],
    )


@app.command("revoke")
def revoke(name: str, db: str | None = DB) -> None:
    """Revoke a token at once; requests using it get 401."""
    if not run(db, lambda app: token_ops.revoke(app, name, actor=ACTOR)):
        fail(f"no live token named {name!r}")
    console.print(f"Token {name!r} revoked.")
