"""/api/v1/health: liveness and readiness, no token needed."""

from __future__ import annotations

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import billsync
from billsync.api.schemas.common import ErrorOut
from billsync.app import App
from billsync.app import runs as run_ops

log = structlog.get_logger(__name__)


class HealthPublic(BaseModel):
    status: str
    version: str
    worker: bool
    poller: bool
    #: Runs by status (a readiness check: the database answered).
    runs: dict[str, int]


def router(app: App) -> APIRouter:
    routes = APIRouter(tags=["health"])

    @routes.get(
        "/health",
        response_model=HealthPublic,
        responses={503: {"model": ErrorOut, "description": "The database is unreachable"}},
    )
    async def health() -> HealthPublic | JSONResponse:
        try:
            counts = await run_ops.counts(app)
        except Exception:
            # Readiness fails on any database error; the reason goes to the logs, not out.
            log.exception("health check: database unreachable")
            return JSONResponse({"detail": "database unreachable"}, status_code=503)
        return HealthPublic(
            status="ok",
            version=billsync.__version__,
            worker=app.worker.running,
            poller=app.poller.running,
            runs=counts,
        )

    return routes
