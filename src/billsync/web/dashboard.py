"""The dashboard: sync health at a glance.

Sync lag (age of the oldest run not yet final), runs by status, dead letters (runs that
exhausted their retries, with links to replay them), the last event seen per connection
(a silent webhook shows up here), 429s per connection, and the drift the newest
successful reconciliation of each connection pair found (stored counts, not items). The
numbers are the ones /metrics exports, read from the same store aggregates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from billsync.app import connection_admin, flow_admin
from billsync.app import events as event_ops
from billsync.app import runs as run_ops
from billsync.app.connections import ConnectionInfo
from billsync.store import stats
from billsync.store.models import Event
from billsync.store.status import RunStatus
from billsync.web.ui import PREFIX, Ui


@dataclass(frozen=True)
class ConnectionHealth:
    connection: ConnectionInfo
    last_event: Event | None
    calls: int
    rate_limited: int


@dataclass(frozen=True)
class Health:
    lag_seconds: float
    runs: dict[str, int]
    events: dict[str, int]
    retries: int
    connections: list[ConnectionHealth]
    checked_at: datetime


async def health(ui: Ui) -> Health:
    now = ui.app.clock.now()
    async with ui.app.db.read() as db:
        oldest = await stats.oldest_unfinished_run(db)
        runs = await stats.runs_by_status(db)
        events = await stats.events_by_status(db)
        attempts = await stats.attempts_by_outcome(db)
        calls = {c.connection_id: c for c in await stats.calls_by_connection(db)}
    rows = []
    for connection in await connection_admin.list_all(ui.app):
        latest = await event_ops.list_events(ui.app, connection_id=connection.id, limit=1)
        counted = calls.get(connection.id)
        rows.append(
            ConnectionHealth(
                connection=connection,
                last_event=latest[0] if latest else None,
                calls=counted.attempts if counted else 0,
                rate_limited=counted.rate_limited if counted else 0,
            )
        )
    return Health(
        lag_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        runs={s.value: runs.get(s.value, 0) for s in RunStatus},
        events=events,
        retries=attempts.get("retry", 0),
        connections=rows,
        checked_at=now,
    )


def _lag(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def router(ui: Ui) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    async def context() -> dict[str, Any]:
        found = await health(ui)
        dead = await run_ops.list_runs(ui.app, run_ops.RunFilter(status=RunStatus.DEAD, limit=10))
        failed = await run_ops.list_runs(
            ui.app, run_ops.RunFilter(status=RunStatus.FAILED, limit=10)
        )
        names = {d.flow.id: d.flow.name for d in await flow_admin.list_all(ui.app)}
        reconciled = await ui.app.reconciliations.latest_per_pair(finished=True)
        return {
            "drift": sum(r.drift or 0 for r in reconciled) if reconciled else None,
            "reconciled_at": max(
                (r.finished_at for r in reconciled if r.finished_at), default=None
            ),
            "health": found,
            "lag": _lag(found.lag_seconds),
            "attention": sorted([*dead, *failed], key=lambda r: r.id, reverse=True)[:10],
            "names": names,
            "rate_limited": sum(c.rate_limited for c in found.connections),
        }

    @routes.get(f"{PREFIX}/")
    async def dashboard(request: Request) -> Response:
        await ui.admin(request)
        return ui.render(request, "dashboard.html", await context(), nav="dashboard")

    @routes.get(f"{PREFIX}/health")
    async def health_fragment(request: Request) -> Response:
        await ui.admin(request)
        return ui.render(request, "partials/health.html", await context())

    return routes
