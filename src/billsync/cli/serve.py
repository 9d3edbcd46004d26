"""`billsync serve`: API, webhooks, worker and poller in one process.

This face and `billsync demo` are the only places that read the environment (through
`Settings()`); everything below receives the settings object.
"""

from __future__ import annotations

from pathlib import Path

import typer
import uvicorn

from billsync import web
from billsync.api.server import create_api
from billsync.app import build
from billsync.app.logs import configure_logging
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
    settings = Settings()
    update: dict[str, object] = {}
    if host is not None:
        update["host"] = host
    if port is not None:
        update["port"] = port
    if db is not None:
        update["database_url"] = database_url(db)
    if "public_url" not in settings.model_fields_set:
        # Webhook URLs shown to users follow the address we listen on unless configured.
        shown = update.get("host", settings.host)
        shown = "127.0.0.1" if shown in ("0.0.0.0", "::") else shown
        update["public_url"] = f"http://{shown}:{update.get('port', settings.port)}"
    return settings.model_copy(update=update)


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, help="Port to listen on."),
    db: str | None = typer.Option(
        None, help="Database URL or SQLite file (overrides BILLSYNC_DATABASE_URL)."
    ),
) -> None:
    """Run billsync: API and webhooks, worker and poller, in one process.

    Migrations are applied at start. Ctrl-C (or SIGTERM) stops taking new work, lets
    in-flight runs finish within the grace period and releases the rest.
    """
    settings = load_settings(host=host, port=port, db=db)
    configure_logging(settings)
    app = build(settings)
    uvicorn.run(
        create_api(app, extra_routers=(web.router,)),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        lifespan="on",
    )
