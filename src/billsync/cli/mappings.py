"""`billsync mappings show|rebuild`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import typer
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn

from billsync.app import App, live
from billsync.app import mappings as mapping_ops
from billsync.cli.context import (
    ACTOR,
    DB_HELP,
    JSON_HELP,
    console,
    errors_console,
    fail,
    plain,
    print_json,
    print_table,
    run,
)
from billsync.domain import LinkKind

app = typer.Typer(help="Id mappings: which Togai object is which Razorpay object.")

DB = typer.Option(None, "--db", help=DB_HELP)


def _said(seen: live.Observed, now: datetime) -> str:
    if not seen.status:
        return "unknown"
    if seen.live:
        return f"{seen.status} (now)"
    if seen.as_of is None:
        return f"{seen.status} (stored)"
    return f"{seen.status} (stored {_age(now - seen.as_of)} ago)"


def _age(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _observed(seen: live.Observed) -> dict[str, Any]:
    return {
        "status": seen.status,
        "live": seen.live,
        "stored_at": seen.as_of,
        "amount_paid": seen.amount_paid,
    }


@app.command("show")
def show(
    id: str = typer.Argument(
        ..., help="A Togai account/invoice id or a Razorpay customer/invoice/payment id."
    ),
    kind: LinkKind | None = typer.Option(None, help="Only this kind of link."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    db: str | None = DB,
) -> None:
    """The object(s) `id` is linked to on the other side, with what each side says about
    them now (read through each connection's rate limit; what billsync stored, with its
    age, when a side cannot be read); exit 1 when unmapped."""

    async def op(app: App) -> tuple[list[live.LinkStatus], list[live.SideRead]]:
        found = await mapping_ops.lookup(app, id, kind=kind)
        if not found:
            return [], []
        statuses, togai, razorpay = await live.link_statuses(app, found)
        return statuses, [togai, razorpay]

    statuses, sides = run(db, op)
    if not statuses:
        what = f" {kind.value}" if kind else ""
        if as_json:
            print_json([])
        fail(f"no{what} mapping matches {id!r}: billsync has not linked it to anything")
    for side in sides:
        if side.problem:
            errors_console.print(
                f"[yellow]warning:[/yellow] {side.problem}; showing what billsync stored",
                highlight=False,
            )
    if as_json:
        print_json(
            [
                {
                    **plain(s.link),
                    "togai_status": _observed(s.togai),
                    "razorpay_status": _observed(s.razorpay),
                }
                for s in statuses
            ]
        )
        return
    now = datetime.now(UTC)
    print_table(
        f"Mappings of {id}",
        ["kind", "togai id", "togai says", "razorpay id", "razorpay says", "run"],
        [
            [
                s.link.kind,
                s.link.togai_id,
                _said(s.togai, now),
                s.link.razorpay_id,
                _said(s.razorpay, now),
                s.link.run_id,
            ]
            for s in statuses
        ],
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
