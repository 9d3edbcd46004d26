"""`billsync mappings show|rebuild`."""

from __future__ import annotations

import typer
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn

from billsync.app import App
from billsync.app import mappings as mapping_ops
from billsync.cli.context import (
    ACTOR,
    DB_HELP,
    JSON_HELP,
    console,
    errors_console,
    fail,
    print_json,
    print_table,
    run,
)
from billsync.domain import LinkKind

app = typer.Typer(help="Id mappings: which Togai object is which Razorpay object.")

DB = typer.Option(None, "--db", help=DB_HELP)


@app.command("show")
def show(
    id: str = typer.Argument(
        ..., help="A Togai account/invoice id or a Razorpay customer/invoice/payment id."
    ),
    kind: LinkKind | None = typer.Option(None, help="Only this kind of link."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    db: str | None = DB,
) -> None:
    """The object(s) `id` is linked to on the other side; exit 1 when unmapped."""
    found = run(db, lambda app: mapping_ops.lookup(app, id, kind=kind))
    if not found:
        what = f" {kind.value}" if kind else ""
        if as_json:
            print_json(found)
        fail(f"no{what} mapping matches {id!r}: billsync has not linked it to anything")
    if as_json:
        print_json(found)
    else:
        print_table(
            f"Mappings of {id}",
            ["kind", "togai id", "razorpay id", "run"],
            [[m.kind, m.togai_id, m.razorpay_id, m.run_id] for m in found],
        )


@app.command("rebuild")
def rebuild(
    togai: int | None = typer.Option(None, help="Togai connection id (if several exist)."),
    razorpay: int | None = typer.Option(None, help="Razorpay connection id (if several exist)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    db: str | None = DB,
) -> None:
    """Read the links both providers hold (Razorpay notes, Togai settings, Togai payments'
    Razorpay references) and store the missing ones. Stored links are kept; contradicting
    ones are reported, not written."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed} links"),
        console=errors_console,
        transient=as_json,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(source: str, found: int) -> None:
            if source not in tasks:
                tasks[source] = bar.add_task(source, total=None)
            bar.update(tasks[source], completed=found)

        async def op(app: App) -> mapping_ops.RebuildReport:
            return await mapping_ops.rebuild(
                app,
                togai_connection=togai,
                razorpay_connection=razorpay,
                progress=progress,
                actor=ACTOR,
            )

        report = run(db, op)
    if as_json:
        print_json(report)
    else:
        console.print(
            f"Found {report.found} links: {report.inserted} new, {report.existing} already "
            f"stored, {len(report.conflicts)} conflicting."
        )
        for conflict in report.conflicts:
            errors_console.print(f"[yellow]conflict:[/yellow] {conflict}", highlight=False)
    if report.conflicts:
        raise typer.Exit(2)
