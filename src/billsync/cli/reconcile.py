"""`billsync reconcile`: compare Togai and Razorpay, report each object's state, repair.

Exit codes (for cron): 0 everything matches, 1 drift found, 2 error (a provider or the
database failed, bad options, or with `--fix` a fix run failed or did not finish in time).

Without `--fix` nothing is written to either provider (nor to billsync's database): the
`fix` column says what `--fix` would do. With `--fix` this process stores one event per
fixable item and executes the runs itself with the engine's worker (as `billsync worker`
does: the runs are claimed with leases, so a `billsync serve` on the same database may
execute some of them instead, never the same run twice), then waits until every run it
started has finished. When it exits, the repairs are done: a second `billsync reconcile`
reports what is left (orphans and drift only a human can settle).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn
from rich.table import Table

from billsync import errors
from billsync.app import App
from billsync.cli.context import DB_HELP, JSON_HELP, console, errors_console, open_app, print_json
from billsync.engine.reconcile.model import (
    STATE_ORDER,
    ConnectionPair,
    FixResult,
    ItemState,
    Report,
)
from billsync.store import runs
from billsync.store.status import FINAL_RUN, RunStatus

EXIT_MATCHED, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--since"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


async def _pairs(app: App, togai: int | None, razorpay: int | None) -> list[ConnectionPair]:
    if togai is not None and razorpay is not None:
        return [ConnectionPair(togai, razorpay)]
    if togai is not None or razorpay is not None:
        raise errors.SyncError("give both --togai and --razorpay, or neither")
    pairs = await app.reconciler.pairs()
    if not pairs:
        raise errors.SyncError(
            "no enabled flow binds a Togai and a Razorpay connection: nothing to compare "
            "(name a pair with --togai ID --razorpay ID)"
        )
    return pairs


async def _statuses(app: App, run_ids: Sequence[int]) -> dict[int, str]:
    async with app.db.read() as session:
        found = await runs.statuses(session, run_ids)
    return {run_id: found.get(run_id, "missing") for run_id in run_ids}


def _final(status: str) -> bool:
    return status == "missing" or RunStatus(status) in FINAL_RUN


async def _reconcile(
    app: App,
    pairs: Sequence[ConnectionPair],
    since: datetime | None,
    fix: bool,
    wait: float,
    bar: Progress,
) -> tuple[list[Report], list[FixResult], dict[int, str]]:
    tasks: dict[str, TaskID] = {}

    def progress(label: str, count: int) -> None:
        if label not in tasks:
            tasks[label] = bar.add_task(label, total=None)
        bar.update(tasks[label], completed=count)

    reports = [await app.reconciler.compare(p, since=since, progress=progress) for p in pairs]
    results: list[FixResult] = []
    statuses: dict[int, str] = {}
    if not fix:
        return reports, results, statuses
    for report in reports:
        fixable = [i for i in report.items if i.fixable]
        if fixable:
            results += await app.reconciler.fix(report.pair, fixable)
    run_ids = [r for result in results for r in result.run_ids]
    if run_ids:
        waiting = bar.add_task("fix runs", total=len(run_ids))
        await app.worker.start()
        try:
            deadline = time.monotonic() + wait
            while True:
                statuses = await _statuses(app, run_ids)
                done = sum(1 for s in statuses.values() if _final(s))
                bar.update(waiting, completed=done)
                if done == len(run_ids) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
        finally:
            await app.worker.stop()
    return reports, results, statuses


def reconcile(
    togai: int | None = typer.Option(None, "--togai", help="Togai connection id."),
    razorpay: int | None = typer.Option(None, "--razorpay", help="Razorpay connection id."),
    since: str | None = typer.Option(
        None, "--since", help="Only objects from this date (YYYY-MM-DD, UTC)."
    ),
    fix: bool = typer.Option(
        False, "--fix", help="Repair what is safe through ordinary runs, and wait for them."
    ),
    wait: float = typer.Option(
        600.0, "--wait", help="With --fix: seconds to wait for the fix runs to finish."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Compare Togai and Razorpay for each connection pair that enabled flows bind (or the
    pair named): accounts ↔ customers, invoices ↔ invoices, payments ↔ payments, and the
    three records of each link. Exit 0 when everything matches, 1 on drift, 2 on error."""
    when = _since(since)

    async def main() -> tuple[list[Report], list[FixResult], dict[int, str]]:
        async with open_app(db) as app:
            pairs = await _pairs(app, togai, razorpay)
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}"),
                console=errors_console,
                transient=True,
            ) as bar:
                return await _reconcile(app, pairs, when, fix, wait, bar)

    try:
        reports, results, statuses = asyncio.run(main())
    except errors.SyncError as exc:
        errors_console.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(EXIT_ERROR) from None
    except Exception as exc:  # noqa: BLE001 - cron needs exit 2 for any failure
        errors_console.print(f"[red]error:[/red] {type(exc).__name__}: {exc}", highlight=False)
        raise typer.Exit(EXIT_ERROR) from None

    summary = {state.value: 0 for state in STATE_ORDER}
    for report in reports:
        for state, count in report.summary().items():
            summary[state] += count
    items = [item for report in reports for item in report.items]
    if as_json:
        print_json({"summary": summary, "items": [item.as_json() for item in items]})
    else:
        _print_table(reports, summary)
    failed = _print_fixes(results, statuses) if fix else False
    if failed:
        raise typer.Exit(EXIT_ERROR)
    drift = sum(report.drift for report in reports)
    raise typer.Exit(EXIT_DRIFT if drift else EXIT_MATCHED)


def _print_table(reports: Sequence[Report], summary: dict[str, int]) -> None:
    for report in reports:
        pair = report.pair
        drifting = [i for i in report.items if i.state is not ItemState.MATCHED]
        calls = ", ".join(f"{app} {n}" for app, n in sorted(report.calls.items()))
        title = (
            f"Togai {pair.togai_id} ↔ Razorpay {pair.razorpay_id}: {len(report.items)} "
            f"compared, {len(drifting)} drifting ({calls} calls)"
        )
        if not drifting:
            # An empty table would only squeeze the title into its narrow width.
            console.print(title, highlight=False)
            continue
        table = Table(title=title, title_justify="left")
        for column in ("kind", "state", "togai id", "razorpay id", "detail", "fix"):
            table.add_column(column, overflow="fold")
        for item in drifting:
            table.add_row(
                item.kind.value,
                item.state.value,
                item.togai_id or "",
                item.razorpay_id or "",
                item.detail,
                item.fix or "",
            )
        console.print(table)
    shown = ", ".join(f"{state} {count}" for state, count in summary.items() if count)
    console.print(f"Summary: {shown or 'nothing to compare'}")


def _print_fixes(results: Sequence[FixResult], statuses: dict[int, str]) -> bool:
    """Print what --fix did (stderr, so --json stays clean); True when a run failed."""
    failed = False
    started = sum(1 for r in results if r.run_ids)
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    errors_console.print(
        f"fix: {len(results)} items, {started} started runs "
        f"({', '.join(f'{s} {n}' for s, n in sorted(counts.items())) or 'none'})",
        highlight=False,
    )
    for result in results:
        item = result.item
        label = f"{item.kind.value} {item.togai_id or '-'} / {item.razorpay_id or '-'}"
        if result.skipped:
            errors_console.print(f"  {label}: skipped ({result.skipped})", highlight=False)
            continue
        run_states: list[Any] = [f"run {r} {statuses.get(r, '?')}" for r in result.run_ids]
        errors_console.print(
            f"  {label}: {', '.join(run_states) or 'mapping written'}", highlight=False
        )
        if any(statuses.get(r) not in (RunStatus.SUCCEEDED.value, None) for r in result.run_ids):
            failed = True
    return failed
