"""`billsync keys rotate`: re-encrypt every stored secret under a new key."""

from __future__ import annotations

import typer

from billsync.app import keys as key_ops
from billsync.cli.context import ACTOR, DB_HELP, JSON_HELP, console, print_json, run

app = typer.Typer(help="The keys that encrypt connection secrets.")


@app.command("rotate")
def rotate(
    retire: bool = typer.Option(
        False, "--retire-old", help="Key file only: remove the old keys once re-encrypted."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Key file: generate a new key and re-encrypt every row. BILLSYNC_SECRET_KEYS: put the
    new key first, then run this. Restart running billsync processes afterwards."""
    report = run(db, lambda app: key_ops.rotate(app, retire=retire, actor=ACTOR))
    if as_json:
        print_json(report)
        return
    where = f"key file {report.key_file}" if report.key_file else "BILLSYNC_SECRET_KEYS"
    console.print(
        f"Re-encrypted {report.rows} connection(s) under key {report.key_id} ({where}).",
        highlight=False,
    )
    if report.retired:
        console.print(f"Removed {report.retired} old key(s) from the key file.")
    console.print("Restart running billsync processes so they load the new key.")
