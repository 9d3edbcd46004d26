"""Prometheus metrics: the process counters (prometheus_client's default registry, e.g.
webhooks received by intake) plus gauges and counters read from the database, so they are
right whichever process (or worker) did the work. Process counters include
`billsync_provider_calls_total{app,purpose}` (every HTTP request to a provider, by purpose:
refetch, poll, lookup, write, other; engine/calls.py) and `billsync_webhook_hints_total{app}`
(this process's own requests only: with worker processes, theirs are not in serve's /metrics).

/metrics needs `Authorization: Bearer <token>`: the scrape-only BILLSYNC_METRICS_TOKEN or
an admin token (401 otherwise; the numbers describe customers' billing activity).

The database part is a snapshot reused for BILLSYNC_METRICS_CACHE_SECONDS (10): concurrent
scrapes share one computation in flight, and scrapes in between run no query at all, so
a crowd of scrapers costs the database what one does (benchmarks.md). The series:

    billsync_events{status}                      events in the inbox
    billsync_runs{status}                        runs by status (dead = dead letters)
    billsync_dead_letters                        runs that exhausted their retries
    billsync_sync_lag_seconds                    age of the oldest run not yet final
    billsync_step_attempts_total{outcome}        attempts by outcome (retry = retries)
    billsync_step_retries_total                  attempts that ended in a retry
    billsync_api_calls_total{connection}         action attempts per connection
    billsync_api_rate_limited_total{connection}  of which answered 429
    billsync_step_latency_seconds{action,quantile}  over attempts of the last window
    billsync_reconciliation_items{togai,razorpay,state}  items by state in the newest
                                                 successful reconciliation of each pair
    billsync_reconciliation_last_success_timestamp_seconds{togai,razorpay}  when it finished

The reconciliation gauges read the counts stored on each pair's newest successful
reconciliation (one indexed query), never its items.
"""

from __future__ import annotations

import asyncio
import hmac
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from billsync.api.schemas.common import ErrorOut
from billsync.app import App, tokens
from billsync.engine.reconcile.model import STATE_ORDER
from billsync.store import connections as connection_store
from billsync.store import reconciliations as reconciliation_store
from billsync.store import stats
from billsync.store.models import Connection, Reconciliation
from billsync.store.reconciliations import ReconciliationStatus
from billsync.store.status import RunStatus

#: Step latency quantiles are computed over attempts finished this recently.
LATENCY_WINDOW = timedelta(minutes=15)
QUANTILES = (0.5, 0.9, 0.99)


@dataclass
class Snapshot:
    events: dict[str, int] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    calls: list[stats.ConnectionCalls] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)  #: connection id → "app/name"
    timings: Sequence[stats.AttemptTiming] = ()
    lag_seconds: float = 0.0
    #: The newest successful reconciliation of each connection pair.
    reconciled: Sequence[Reconciliation] = ()


async def snapshot(app: App) -> Snapshot:
    now = app.clock.now()
    async with app.db.read() as session:
        oldest = await stats.oldest_unfinished_run(session)
        rows: Sequence[Connection] = await connection_store.list_all(session)
        return Snapshot(
            events=await stats.events_by_status(session),
            runs=await stats.runs_by_status(session),
            attempts=await stats.attempts_by_outcome(session),
            calls=await stats.calls_by_connection(session),
            names={row.id: f"{row.app}/{row.name}" for row in rows},
            timings=await stats.recent_timings(session, since=now - LATENCY_WINDOW),
            lag_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
            reconciled=await reconciliation_store.latest_per_pair(
                session, status=ReconciliationStatus.SUCCEEDED
            ),
        )


def _quantile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[min(98, max(0, round(q * 100) - 1))]


class SnapshotCollector(Collector):
    def __init__(self, snap: Snapshot) -> None:
        self._snap = snap

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        snap = self._snap
        events = GaugeMetricFamily("billsync_events", "Events in the inbox", labels=["status"])
        for status, n in sorted(snap.events.items()):
            events.add_metric([status], n)
        yield events
        runs = GaugeMetricFamily("billsync_runs", "Runs by status", labels=["status"])
        for status in RunStatus:
            runs.add_metric([status.value], snap.runs.get(status.value, 0))
        yield runs
        yield GaugeMetricFamily(
            "billsync_dead_letters",
            "Runs that exhausted their retries (replay them)",
            value=snap.runs.get(RunStatus.DEAD.value, 0),
        )
        yield GaugeMetricFamily(
            "billsync_sync_lag_seconds",
            "Age of the oldest run that is not final yet",
            value=snap.lag_seconds,
        )
        attempts = CounterMetricFamily(
            "billsync_step_attempts", "Step attempts by outcome", labels=["outcome"]
        )
        for outcome, n in sorted(snap.attempts.items()):
            attempts.add_metric([outcome], n)
        yield attempts
        yield CounterMetricFamily(
            "billsync_step_retries",
            "Step attempts that failed and were scheduled again",
            value=snap.attempts.get("retry", 0),
        )
        calls = CounterMetricFamily(
            "billsync_api_calls", "Action attempts per connection", labels=["connection"]
        )
        limited = CounterMetricFamily(
            "billsync_api_rate_limited",
            "Action attempts the app answered with 429",
            labels=["connection"],
        )
        for row in snap.calls:
            label = snap.names.get(row.connection_id, str(row.connection_id))
            calls.add_metric([label], row.attempts)
            limited.add_metric([label], row.rate_limited)
        yield calls
        yield limited
        yield self._latency()
        yield self._latency_samples()
        yield from self._reconciliation()

    def _latency(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "billsync_step_latency_seconds",
            f"Step attempt duration over the last {int(LATENCY_WINDOW.total_seconds())} s",
            labels=["action", "quantile"],
        )
        by_action: dict[str, list[float]] = {}
        for timing in self._snap.timings:
            by_action.setdefault(timing.action, []).append(timing.seconds)
        for action, values in sorted(by_action.items()):
            for q in QUANTILES:
                family.add_metric([action, str(q)], _quantile(values, q))
        return family

    def _latency_samples(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "billsync_step_latency_samples",
            "Attempts the latency quantiles were computed from",
            labels=["action"],
        )
        counts: dict[str, int] = {}
        for timing in self._snap.timings:
            counts[timing.action] = counts.get(timing.action, 0) + 1
        for action, n in sorted(counts.items()):
            family.add_metric([action], n)
        return family

    def _reconciliation(self) -> Iterable[GaugeMetricFamily]:
        labels = ["togai", "razorpay"]
        items = GaugeMetricFamily(
            "billsync_reconciliation_items",
            "Items by state in the newest successful reconciliation of each connection pair",
            labels=[*labels, "state"],
        )
        finished = GaugeMetricFamily(
            "billsync_reconciliation_last_success_timestamp_seconds",
            "When the newest successful reconciliation of each connection pair finished",
            labels=labels,
        )
        names = self._snap.names
        for row in self._snap.reconciled:
            pair = [
                names.get(row.togai_connection_id, str(row.togai_connection_id)),
                names.get(row.razorpay_connection_id, str(row.razorpay_connection_id)),
            ]
            summary = row.summary or {}
            for state in STATE_ORDER:
                items.add_metric([*pair, state.value], summary.get(state.value, 0))
            if row.finished_at is not None:
                finished.add_metric(pair, row.finished_at.timestamp())
        yield items
        yield finished


async def render_snapshot(app: App) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(await snapshot(app)))
    return generate_latest(registry)


class SnapshotCache:
    """The rendered database snapshot, reused for `ttl` seconds; one computation at a time
    (scrapes arriving meanwhile wait for it instead of starting their own)."""

    def __init__(self, app: App, ttl: float) -> None:
        self._app = app
        self._ttl = ttl
        self._lock = asyncio.Lock()
        self._text = b""
        self._at = -float("inf")
        self.computed = 0  #: snapshots taken (tests and the benchmark read it)

    def _fresh(self) -> bool:
        return time.monotonic() - self._at < self._ttl

    async def get(self) -> bytes:
        if self._fresh():
            return self._text
        async with self._lock:
            if not self._fresh():
                self._text = await render_snapshot(self._app)
                self._at = time.monotonic()
                self.computed += 1
            return self._text


async def render(app: App, cache: SnapshotCache | None = None) -> bytes:
    """The exposition text: process metrics, then the database snapshot."""
    database = await cache.get() if cache is not None else await render_snapshot(app)
    return generate_latest(REGISTRY) + database


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="MetricsToken",
    description="BILLSYNC_METRICS_TOKEN, or an admin token.",
)

UNAUTHORIZED = HTTPException(
    status_code=401,
    detail="a metrics or admin token is required (Authorization: Bearer <token>)",
    headers={"WWW-Authenticate": "Bearer"},
)


def router(app: App) -> APIRouter:
    routes = APIRouter(tags=["health"])
    cache = SnapshotCache(app, app.settings.metrics_cache_seconds)
    configured = app.settings.metrics_token
    scrape_token = configured.get_secret_value().encode() if configured else None

    async def scraper(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise UNAUTHORIZED
        given = credentials.credentials
        if scrape_token is not None and hmac.compare_digest(given.encode(), scrape_token):
            return
        if await tokens.authenticate(app, given) is None:
            raise UNAUTHORIZED

    @routes.get(
        "/metrics",
        response_class=Response,
        dependencies=[Depends(scraper)],
        responses={
            200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus"},
            401: {"model": ErrorOut, "description": "No or invalid metrics/admin token"},
        },
    )
    async def metrics() -> Response:
        """Prometheus metrics (BILLSYNC_METRICS_TOKEN or an admin token)."""
        return Response(await render(app, cache), media_type=CONTENT_TYPE_LATEST)

    return routes
