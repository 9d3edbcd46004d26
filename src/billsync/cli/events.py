"""`billsync events list`."""

from __future__ import annotations

import typer

from billsync.app import events as event_ops
from billsync.cli.context import DB_HELP, JSON_HELP, print_json, print_table, run
from billsync.store.status import EventStatus

app = typer.Typer(help="Events: what the apps told billsync (webhooks and polls).")


@app.command("list")
def list_(
    connection: int | None = typer.Option(None, help="Only events of this connection id."),
    status: EventStatus | None = typer.Option(None, help="Only events in this status."),
    limit: int = typer.Option(50, min=1, max=event_ops.MAX_PAGE),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Newest events first."""
    rows = run(
        db,
        lambda app: event_ops.list_events(
            app, limit=limit, connection_id=connection, status=status
        ),
    )
    if as_json:
        print_json(
            [
                {
                    "id": e.id,
                    "connection_id": e.connection_id,
                    "trigger": e.trigger,
                    "event_type": e.event_type,
                    "external_id": e.external_id,
                    "entity_key": e.entity_key,
                    "status": e.status,
                    "occurred_at": e.occurred_at,
                    "received_at": e.received_at,
                    "payload": e.payload,
                }
                for e in rows
            ]
        )
        return
    print_table(
        "Events",
        ["id", "connection", "type", "entity", "status", "received"],
        [
            [e.id, e.connection_id, e.event_type, e.entity_key, e.status, e.received_at]
            for e in rows
        ],
    )
