"""Logging for one billsync process: structlog, console or JSON lines, level from settings."""

from __future__ import annotations

import logging

import structlog

from billsync.config import Settings

QUIET_LOGGERS = ("httpx", "httpcore", "alembic", "procrastinate")


def configure_logging(settings: Settings) -> None:
    """Set the level and renderer for structlog (billsync) and stdlib logging (uvicorn...)."""
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level, format="%(message)s")
    # httpx logs every request URL at INFO (a Togai webhook URL carries its token);
    # alembic narrates each migration step; procrastinate logs every job's start and end
    # (billsync logs the runs). None belongs in an operator's log.
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
