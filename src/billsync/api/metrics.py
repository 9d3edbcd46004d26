"""Prometheus metrics: the process counters (prometheus_client's default registry, e.g.
webhooks received by intake) plus gauges and counters read from the database at scrape
time, so they are right whichever process (or worker) did the work:

    billsync_events{status}                      events in the inbox
    billsync_runs{status}                        runs by status (dead = dead letters)
    billsync_dead_letters                        runs that exhausted their retries
    billsync_sync_lag_seconds                    age of the oldest run not yet final
    billsync_step_attempts_total{outcome}        attempts by outcome (retry = retries)
    billsync_step_retries_total                  attempts that ended in a retry
    billsync_api_calls_total{connection}         action attempts per connection
    billsync_api_rate_limited_total{connection}  of which answered 429
    billsync_step_latency_seconds{action,quantile}  over attempts of the last window
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from billsync.app import App
from billsync.store import connections as connection_store
from billsync.store import stats
from billsync.store.models import Connection
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


async def render(app: App) -> bytes:
    """The exposition text: process metrics, then the database snapshot."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(await snapshot(app)))
    return generate_latest(REGISTRY) + generate_latest(registry)


def router(app: App) -> APIRouter:
    routes = APIRouter(tags=["health"])

    @routes.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus"}},
    )
    async def metrics() -> Response:
        """Prometheus metrics (no token needed)."""
        return Response(await render(app), media_type=CONTENT_TYPE_LATEST)

    return routes
