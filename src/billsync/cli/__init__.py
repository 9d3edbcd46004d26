"""The `billsync` command. Each command group lives in its own module of this package."""

from __future__ import annotations

import typer

from billsync.cli import apps, demo, sandbox, serve

app = typer.Typer(
    name="billsync",
    help="Keep Togai and Razorpay in sync, both ways, exactly once.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(sandbox.app, name="sandbox")
app.command("serve")(serve.serve)
app.command("demo")(demo.demo)
app.command("apps")(apps.apps)


def main() -> None:
    app()
