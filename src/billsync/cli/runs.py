"""`billsync runs list|show|replay`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer

from billsync.app import flow_admin
from billsync.app import runs as run_ops
from billsync.app.root import App
from billsync.cli.context import (
    ACTOR,
    DB_HELP,
    JSON_HELP,
    console,
    print_fields,
    print_json,
    print_table,
    run,
)
from billsync.store.models import Run
from billsync.store.status import RunStatus, StepStatus

app = typer.Typer(help="Runs: one execution of a flow for one event.")

DB = typer.Option(None, "--db", help=DB_HELP)
JSON = typer.Option(False, "--json", help=JSON_HELP)


def _utc(when: datetime | None) -> datetime | None:
    """Typer parses timestamps without an offset: read them as UTC."""
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=UTC)


def run_record(r: Run) -> dict[str, Any]:
    return {
        "id": r.id,
        "flow_id": r.flow_id,
        "flow_version": r.flow_version,
        "event_id": r.event_id,
        "entity_key": r.entity_key,
        "status": r.status,
        "attempt": r.attempt,
        "next_attempt_at": r.next_attempt_at,
        "last_error": r.last_error,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "finished_at": r.finished_at,
    }


@app.command("list")
def list_(
    status: RunStatus | None = typer.Option(None, help="Only runs in this status."),
    flow: int | None = typer.Option(None, help="Only runs of this flow id."),
    entity: str | None = typer.Option(None, help="An entity id (e.g. a Togai account id)."),
    since: datetime | None = typer.Option(None, help="Created at or after (UTC if no offset)."),
    until: datetime | None = typer.Option(None, help="Created before (UTC if no offset)."),
    limit: int = typer.Option(50, min=1, max=run_ops.MAX_PAGE),
    as_json: bool = JSON,
    db: str | None = DB,
) -> None:
    """Newest runs first."""
    query = run_ops.RunFilter(
        status=status,
        flow_id=flow,
        entity=entity,
        since=_utc(since),
        until=_utc(until),
        limit=limit,
    )
    rows, names = run(db, lambda app: _runs_and_flow_names(app, query))
    if as_json:
        print_json([run_record(r) for r in rows])
        return
    print_table(
        "Runs",
        ["id", "flow", "entity", "status", "try", "created (UTC)", "last error"],
        [
            [
                r.id,
                names.get(r.flow_id, str(r.flow_id)),
                r.entity_key,
                r.status,
                r.attempt,
                r.created_at,
                r.last_error,
            ]
            for r in rows
        ],
    )


async def _runs_and_flow_names(
    app: App, query: run_ops.RunFilter
) -> tuple[list[Run], dict[int, str]]:
    """The table names flows (an id means nothing to a reader); `--json` keeps the ids."""
    rows = await run_ops.list_runs(app, query)
    names = {d.flow.id: d.flow.name for d in await flow_admin.list_all(app)}
    return list(rows), names


@app.command("show")
def show(run_id: int, as_json: bool = JSON, db: str | None = DB) -> None:
    """A run with each step's input, output, error and attempts."""
    detail = run(db, lambda app: run_ops.detail(app, run_id))
    if as_json:
        print_json({**run_record(detail.run), "steps": detail.steps})
        return
    print_fields(f"Run {run_id}", list(run_record(detail.run).items()))
    for step in detail.steps:
        print_fields(
            f"Step {step.idx} {step.step_id} ({step.action}): {step.status}",
            [("input", step.input), ("output", step.output), _outcome_note(step)],
        )
        if step.status == StepStatus.SKIPPED and not step.attempts:
            console.print("Not executed: skipped.", style="dim", highlight=False)
            continue
        print_table(
            "Attempts",
            ["#", "outcome", "started", "finished", "error"],
            [
                [a.attempt, a.outcome, a.started_at, a.finished_at, a.message or a.error_class]
                for a in step.attempts
            ],
        )


def _outcome_note(step: run_ops.StepInfo) -> tuple[str, str | None]:
    """A skipped step's text is why it was skipped (its `when` said no, or the action found
    nothing to do), not an error: it is labelled as the reason."""
    if step.status != StepStatus.SKIPPED:
        return ("error", step.error)
    reason = (step.error or "not needed for this event").removeprefix("skipped: ")
    return ("skipped because", reason)


@app.command("replay")
def replay(run_id: int, db: str | None = DB) -> None:
    """Queue a failed or dead run again; it resumes at the step that failed."""
    replayed = run(db, lambda app: run_ops.replay(app, run_id, actor=ACTOR))
    console.print(f"Run {run_id} is {replayed.status} again; a running worker picks it up.")
