"""`router(app)`: every UI route under /ui, plus its two static files.

Mounted by the API server like any other router factory. The static files are served by
a plain route over a fixed list (no directory walking, no CDN at run time).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from billsync.app import App
from billsync.web import (
    connections,
    customers,
    dashboard,
    flows,
    login,
    reconciliation,
    runs,
    wizard,
)
from billsync.web.ui import HERE, PREFIX, Ui

STATIC = {
    "htmx.min.js": "text/javascript",
    "app.css": "text/css",
}


def static_router() -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get(f"{PREFIX}/static/{{name}}")
    async def static(name: str) -> FileResponse:
        media_type = STATIC.get(name)
        if media_type is None:
            raise HTTPException(status_code=404)
        return FileResponse(
            HERE / "static" / name,
            media_type=media_type,
            headers={"Cache-Control": "public, max-age=3600"},
        )

    return routes


def router(app: App) -> APIRouter:
    ui = Ui(app)
    routes = APIRouter(include_in_schema=False)
    routes.include_router(static_router())
    # The wizard before flows: its /ui/flows/new must win over /ui/flows/{flow_id}.
    modules = (login, dashboard, connections, wizard, flows, runs, customers, reconciliation)
    for module in modules:
        routes.include_router(module.router(ui))
    return routes
