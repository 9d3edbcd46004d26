"""`create_api(app)`: the FastAPI application of one billsync process.

The lifespan starts the App (migrations, worker, poller) and stops it on shutdown. Routers
are listed explicitly: `ROUTERS` holds the factories every process serves, and callers can
pass more (`extra_routers`) without touching this module.

/docs and /redoc work without internet (api/docs.py).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

import billsync
from billsync.api import metrics, v1, webhooks
from billsync.api.docs import add_docs
from billsync.api.schemas import connection_values
from billsync.app import App

RouterFactory = Callable[[App], APIRouter]


def health_router(app: App) -> APIRouter:
    routes = APIRouter(tags=["health"])

    @routes.get("/healthz")
    async def healthz() -> JSONResponse:
        """Liveness, and whether the worker and poller loops run."""
        body = {
            "status": "ok",
            "version": billsync.__version__,
            "worker": app.worker.running,
            "poller": app.poller.running,
        }
        return JSONResponse(body)

    return routes


#: What every billsync process serves; later faces append their factories here.
ROUTERS: tuple[RouterFactory, ...] = (
    health_router,
    metrics.router,
    webhooks.router,
    v1.router,
)


def _state_connection_values(api: FastAPI, app: App) -> None:
    """The document's ConnectionCreate/Update say, per app, which values they take (FastAPI
    sees only a string map: the fields come from the registry, not from a class)."""
    generate = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            document = generate()
            schemas = document["components"]["schemas"]
            schemas.update(connection_values.components(app.registry, schemas))
            api.openapi_schema = document
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]


def create_api(
    app: App,
    *,
    extra_routers: Sequence[RouterFactory] = (),
    start_worker: bool = True,
    start_poller: bool = True,
    start_schedule: bool | None = None,
) -> FastAPI:
    """`start_schedule` (the reconciliation schedule) follows `start_poller` unless given."""

    @asynccontextmanager
    async def lifespan(_api: FastAPI) -> AsyncIterator[None]:
        await app.start(worker=start_worker, poller=start_poller, schedule=start_schedule)
        try:
            yield
        finally:
            await app.stop()

    webhooks.redact_access_log()
    api = FastAPI(
        title="billsync",
        version=billsync.__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    add_docs(api, "billsync")
    api.state.billsync = app
    for factory in (*ROUTERS, *extra_routers):
        api.include_router(factory(app))
    _state_connection_values(api, app)

    documented: list[tuple[re.Pattern[str], set[str]]] = []

    @api.exception_handler(StarletteHTTPException)
    async def method_not_allowed(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code != 405:
            return await http_exception_handler(request, exc)
        # FastAPI makes one route per method, and the first route matching the path alone
        # answers 405 with only its own methods in Allow; the answer names every method the
        # OpenAPI document gives the path.
        if not documented:
            for template, operations in api.openapi().get("paths", {}).items():
                pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
                methods = {m.upper() for m in operations if m.isalpha()}
                documented.append((re.compile(f"^{pattern}$"), methods))
        allowed = {
            m for pattern, methods in documented if pattern.match(request.url.path) for m in methods
        }
        if not allowed:
            return await http_exception_handler(request, exc)
        return JSONResponse(
            {"detail": "Method Not Allowed"},
            status_code=405,
            headers={"Allow": ", ".join(sorted(allowed))},
        )

    return api
