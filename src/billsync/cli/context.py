"""What every admin command shares: an App on the database (--db), output, errors.

Commands talk to the database through the same `billsync.app` operations as the API, so
they work without a running server. Settings come from BILLSYNC_* (and .env) with --db on
top; this is the composition-root path (`build(settings)`) that `billsync serve` uses too.
Logs go to stderr so stdout stays clean for `--json`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any, NoReturn, TypeVar

import structlog
import typer
from rich.console import Console
from rich.table import Table

from billsync import errors
from billsync.app import App, build
from billsync.app.root import DatabaseMissingError, require_database
from billsync.cli.serve import load_settings

T = TypeVar("T")

DB_HELP = "Database URL or SQLite file (default: BILLSYNC_DATABASE_URL)."
JSON_HELP = "Print JSON instead of a table."
#: Who CLI changes are attributed to in the audit log.
ACTOR = "cli"

console = Console()
errors_console = Console(stderr=True)


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    # Resolved per logger: a test runner may swap sys.stderr between commands.
    return structlog.PrintLogger(sys.stderr)


@asynccontextmanager
async def open_app(db: str | None, *, create: bool = False) -> AsyncIterator[App]:
    """The App on `db`, migrated; its clients and database closed on exit.

    Without `create`, a missing database is an error (DatabaseMissingError) and nothing is
    created: only set-up commands (and serve, demo) make a new one."""
    previous = structlog.get_config()
    structlog.configure(
        logger_factory=_stderr_logger,
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=False,
    )
    try:
        settings = load_settings(db=db)
        if not create:
            await require_database(settings)
        app = build(settings)
        try:
            await app.migrate()
            # Webhook URLs point at the address `billsync serve` recorded (its --port),
            # unless BILLSYNC_PUBLIC_URL says otherwise.
            await app.load_served_url()
            yield app
        finally:
            # Everything the App opened (clients, the shared rate-limit connection, the
            # database), whether or not the command started its worker.
            await app.stop()
    finally:
        structlog.configure(**previous)


def database_exists(db: str | None) -> bool:
    """Whether `db` (or the configured database) exists; creates nothing."""

    async def check() -> bool:
        try:
            await require_database(load_settings(db=db))
        except DatabaseMissingError:
            return False
        return True

    return asyncio.run(check())


def fail(message: str, code: int = 1) -> NoReturn:
    errors_console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def run(db: str | None, operation: Callable[[App], Awaitable[T]], *, create: bool = False) -> T:
    """Run `operation` on the App; a billsync error becomes a message and exit code 1.

    `create`: a set-up command, which may create (and migrate) a missing database."""

    async def main() -> T:
        async with open_app(db, create=create) as app:
            return await operation(app)

    try:
        return asyncio.run(main())
    except errors.FlowError as exc:
        for field, message in exc.problems:
            errors_console.print(f"[red]error:[/red] {field}: {message}", highlight=False)
        raise typer.Exit(1) from None
    except errors.SyncError as exc:
        fail(exc.message)


def plain(value: Any) -> Any:
    """JSON-ready data from dataclasses, enums and datetimes."""
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    return value


def print_json(data: Any) -> None:
    typer.echo(json.dumps(plain(data), indent=2, sort_keys=True))


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        # A timestamp is kept on one line (19 characters); the other columns fold instead.
        stamp = any(isinstance(row[index], datetime) for row in rows)
        table.add_column(column, overflow="fold", no_wrap=stamp, min_width=19 if stamp else None)
    for row in rows:
        table.add_row(*("" if v is None else _cell(v) for v in row))
    console.print(table)


def _cell(value: Any) -> str:
    """Timestamps to the second, without the offset: tables must fit 80 columns, and the
    column header says UTC (`--json` keeps the full ISO value)."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(plain(value))


def print_fields(title: str, fields: Sequence[tuple[str, Any]]) -> None:
    """A record as two columns (`show` commands)."""
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in fields:
        shown = plain(value)
        if isinstance(shown, dict | list):
            shown = json.dumps(shown, indent=2, sort_keys=True)
        table.add_row(name, "" if shown is None else str(shown))
    console.print(table)
