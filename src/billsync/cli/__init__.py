"""The `billsync` command. Each command group lives in its own module of this package."""

from __future__ import annotations

import typer

from billsync.cli import (
    apps,
    connections,
    demo,
    events,
    flows,
    help,
    keys,
    mappings,
    reconcile,
    runs,
    sandbox,
    serve,
    tokens,
    worker,
)

help.install()

app = typer.Typer(
    name="billsync",
    help="Keep Togai and Razorpay in sync, both ways, exactly once.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(sandbox.app, name="sandbox")
app.command("serve")(serve.serve)
app.command("worker")(worker.worker)
app.command("demo")(demo.demo)
app.command("apps")(apps.apps)
app.add_typer(connections.app, name="connections")
app.add_typer(flows.app, name="flows")
app.add_typer(runs.app, name="runs")
app.add_typer(events.app, name="events")
app.add_typer(mappings.app, name="mappings")
app.command("reconcile")(reconcile.reconcile)
app.add_typer(tokens.app, name="tokens")
app.add_typer(keys.app, name="keys")


def main() -> None:
    app()
