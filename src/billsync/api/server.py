"""`create_api(app)`: the FastAPI application of one billsync process.

The lifespan starts the App (migrations, worker, poller) and stops it on shutdown. Routers
are listed explicitly: `ROUTERS` holds the factories every process serves, and callers can
pass more (`extra_routers`) without touching this module.

/docs (Swagger UI) and /redoc load their scripts and styles from billsync itself
(`fastapi-offline` ships them, served under /static-offline-docs), so they work without
internet; /favicon.ico is billsync's icon, for these pages and the admin UI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi_offline import FastAPIOffline

import billsync
from billsync.api import metrics, v1, webhooks
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


FAVICON = Path(__file__).parent / "static" / "favicon.svg"
FAVICON_URL = "/favicon.ico"


def favicon_router(_app: App) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get(FAVICON_URL)
    async def favicon() -> FileResponse:
        # SVG under the name browsers ask for unprompted (no 404 in every page's log).
        return FileResponse(
            FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}
        )

    return routes


#: What every billsync process serves; later faces append their factories here.
ROUTERS: tuple[RouterFactory, ...] = (
    health_router,
    favicon_router,
    metrics.router,
    webhooks.router,
    v1.router,
)


def create_api(
    app: App,
    *,
    extra_routers: Sequence[RouterFactory] = (),
    start_worker: bool = True,
    start_poller: bool = True,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_api: FastAPI) -> AsyncIterator[None]:
        await app.start(worker=start_worker, poller=start_poller)
        try:
            yield
        finally:
            await app.stop()

    webhooks.redact_access_log()
    api = FastAPIOffline(
        title="billsync",
        version=billsync.__version__,
        lifespan=lifespan,
        favicon_url=FAVICON_URL,
        # No call to the public validator service from the docs page.
        swagger_ui_parameters={"validatorUrl": None},
    )
    api.state.billsync = app
    for factory in (*ROUTERS, *extra_routers):
        api.include_router(factory(app))
    return api
