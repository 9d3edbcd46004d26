"""`billsync serve`: API, webhooks, worker and poller in one process.

The environment is read by the composition root (`billsync.app.load_settings`); this face
only adds its command-line overrides.
"""

from __future__ import annotations

from pathlib import Path

import typer
import uvicorn

from billsync import errors, web
from billsync.api.server import create_api
from billsync.app import build
from billsync.app import load_settings as app_settings
from billsync.app.logs import configure_logging
from billsync.app.root import dispatcher_kind
from billsync.config import Settings


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path.expanduser().resolve()}"


def database_url(db: str) -> str:
    """--db accepts a SQLAlchemy URL or a path to a SQLite file."""
    return db if "://" in db else sqlite_url(Path(db))


def load_settings(
    *, host: str | None = None, port: int | None = None, db: str | None = None
) -> Settings:
    """BILLSYNC_* from the environment (and .env), then the command-line overrides."""
    return app_settings(host=host, port=port, database_url=None if db is None else database_url(db))


def serve(
    host: str | None = typer.Option(
        None, help="Interface to bind (default: BILLSYNC_HOST, else 127.0.0.1)."
    ),
    port: int | None = typer.Option(
        None, help="Port to listen on (default: BILLSYNC_PORT, else 8000)."
    ),
    db: str | None = typer.Option(
        None, help="Database URL or SQLite file (overrides BILLSYNC_DATABASE_URL)."
    ),
    worker_processes: int | None = typer.Option(
        None,
        min=0,
        help="Extra processes that only execute runs, to use more cores "
        "(default: BILLSYNC_WORKER_PROCESSES, else 0).",
    ),
    run_worker: bool = typer.Option(
        True,
        "--worker/--no-worker",
        help="--no-worker: API, webhooks and pollers only; `billsync worker` processes "
        "(any number, on any machine) execute the runs.",
    ),
) -> None:
    """Run billsync: API and webhooks, worker and poller, in one process (or with
    --worker-processes N: N processes execute the runs, this one does the rest; or with
    --no-worker: none here, `billsync worker` processes started separately execute them).

    Migrations are applied at start. Ctrl-C (or SIGTERM) stops taking new work, lets
    in-flight runs finish within the grace period and releases the rest.
    """
    # Imported here: `billsync worker` reuses this module's settings helpers.
    from billsync.cli.context import fail
    from billsync.cli.worker import sharing_processes, start_worker_processes

    settings = load_settings(host=host, port=port, db=db)
    if worker_processes is not None:
        settings = settings.model_copy(update={"worker_processes": worker_processes})
    if not run_worker:
        if settings.worker_processes and worker_processes is not None:
            raise typer.BadParameter(
                "--no-worker runs no worker here: start `billsync worker` processes instead "
                "of --worker-processes",
                param_hint="--no-worker",
            )
        settings = settings.model_copy(update={"worker_processes": 0})
    try:
        dispatcher_kind(settings)
    except errors.ConfigError as exc:
        fail(str(exc))
    settings = settings.model_copy(update={"rate_limit_processes": sharing_processes(settings)})
    configure_logging(settings)
    workers = start_worker_processes(settings)
    try:
        app = build(settings)
        app.dispatcher.add_hook(workers.nudge)
        uvicorn.run(
            # With worker processes, this one takes webhooks, polls and serves the API and
            # UI while they execute the runs: its loop answers deliveries promptly.
            create_api(
                app,
                extra_routers=(web.router,),
                start_worker=run_worker and not workers.procs,
            ),
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            lifespan="on",
        )
    finally:
        workers.stop(grace=settings.shutdown_grace_seconds + 10)
