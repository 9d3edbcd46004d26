"""/api/v1: the REST API. Every route but /api/v1/health needs an admin token.

`router(app)` is what create_api registers; the noun routers are listed explicitly.
"""

from __future__ import annotations

from fastapi import APIRouter

from billsync.api import auth
from billsync.api.v1 import (
    audit,
    connections,
    events,
    flows,
    health,
    mappings,
    reconciliations,
    runs,
)
from billsync.api.v1.errors import responses
from billsync.app import App

PREFIX = "/api/v1"
NOUNS = (
    connections.router,
    flows.router,
    runs.router,
    events.router,
    mappings.router,
    reconciliations.router,
    audit.router,
)


def router(app: App) -> APIRouter:
    actor = auth.actor_dependency(app)
    api = APIRouter(prefix=PREFIX)
    api.include_router(health.router(app))
    for factory in NOUNS:
        api.include_router(factory(app, actor), responses=responses(401, 429))
    return api
