"""The poller: polling triggers (AppSpec.poll) as a safety net for lost or missing webhooks.

Every `interval` seconds, for each connection that is the trigger of an enabled flow on a
polling trigger, the app's poller runs from the persisted cursor. Its events go through
the same intake path as webhooks (same dedupe: a change already delivered by webhook
creates nothing new) and the new cursor is saved in the transaction that stores them, so
a crash between the two can neither lose nor double an event. Each poll takes a token
from the connection's rate-limit bucket, shared with the runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from billsync import errors
from billsync.clock import Clock, SystemClock
from billsync.connectors import spec
from billsync.engine.clients import ClientCache
from billsync.engine.flow import parse_flow
from billsync.engine.intake import Intake, PollCursor
from billsync.engine.ratelimit import RateLimiters, connection_rate
from billsync.store import connections, cursors, events, flows
from billsync.store.database import Database

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PollTarget:
    connection_id: int
    trigger: str


@dataclass
class PollReport:
    polled: int = 0  #: (connection, trigger) pairs polled
    events: int = 0  #: events the pollers returned
    stored: int = 0  #: events new to the inbox
    runs: int = 0
    failed: int = 0  #: polls that raised (logged; retried next interval)


class Poller:
    def __init__(
        self,
        db: Database,
        registry: spec.Registry,
        clients: ClientCache,
        intake: Intake,
        *,
        limiters: RateLimiters | None = None,
        clock: Clock | None = None,
        interval: float = 30.0,
    ) -> None:
        self._db = db
        self._registry = registry
        self._clients = clients
        self._intake = intake
        self._limiters = limiters or RateLimiters()
        self._clock = clock or SystemClock()
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._kick = asyncio.Event()
        self.rounds = 0  #: completed poll rounds, for tests and metrics

    async def targets(self) -> list[PollTarget]:
        """(connection, trigger) pairs that an enabled flow listens to and that can be polled."""
        found: set[PollTarget] = set()
        async with self._db.read() as session:
            for _flow, version in await flows.enabled_current(session):
                try:
                    defn = parse_flow(version.definition)
                except errors.FlowError:
                    continue
                if not defn.trigger.connection_id.isdigit():
                    continue
                connection_id = int(defn.trigger.connection_id)
                row = await connections.get(session, connection_id)
                if row is None or not self._pollable(row.app, defn.trigger.trigger):
                    continue
                found.add(PollTarget(connection_id, defn.trigger.trigger))
        return sorted(found, key=lambda t: (t.connection_id, t.trigger))

    def _pollable(self, app_name: str, trigger: str) -> bool:
        try:
            app = self._registry.app(app_name)
            trigger_spec = app.trigger(trigger)
        except KeyError:
            return False
        return trigger_spec.polling and trigger in app.poll

    async def poll_once(self) -> PollReport:
        """One round over every target; a failing target does not stop the others."""
        report = PollReport()
        for target in await self.targets():
            try:
                events, stored, run_count = await self.poll_target(target)
            except errors.SyncError as exc:
                report.failed += 1
                log.warning(
                    "poll failed; retrying next interval",
                    connection_id=target.connection_id,
                    trigger=target.trigger,
                    error=exc.message,
                )
                continue
            except Exception:
                report.failed += 1
                log.exception(
                    "poll crashed", connection_id=target.connection_id, trigger=target.trigger
                )
                continue
            report.polled += 1
            report.events += events
            report.stored += stored
            report.runs += run_count
        self.rounds += 1
        return report

    async def poll_target(self, target: PollTarget) -> tuple[int, int, int]:
        """Poll one trigger of one connection: (events seen, stored, runs created)."""
        async with self._db.read() as session:
            row = await connections.get(session, target.connection_id)
            cursor = await cursors.get(session, target.connection_id, target.trigger)
        if row is None:
            return 0, 0, 0
        app = self._registry.app(row.app)
        poll = app.poll[target.trigger]
        client = await self._clients.get(row)
        bucket = self._limiters.get(str(row.id), connection_rate(row))
        try:
            incoming, new_cursor = await poll(
                client, cursor, functools.partial(self._known, row.id)
            )
        except errors.RateLimitedError as exc:
            bucket.penalize(exc.retry_after)
            raise
        if cursor is None and row.options.get("poll_start", "now") != "backfill":
            # A first poll sees everything that already exists. Unless the user asked for a
            # backfill, that is the baseline, not news: syncing years of old invoices to
            # Razorpay (which notifies customers) must be a deliberate choice.
            incoming = []
        result = await self._intake.store(
            row.id,
            list(incoming),
            cursor=PollCursor(target.trigger, dict(new_cursor)),
            source="poll",
        )
        return len(incoming), result.stored, len(result.run_ids)

    async def _known(self, connection_id: int, external_ids: Sequence[str]) -> set[str]:
        """Which of these events the inbox holds already: the poller skips re-fetching them
        (storing them again would only be deduplicated)."""
        async with self._db.read() as session:
            return await events.known_external_ids(session, connection_id, external_ids)

    def kick(self) -> None:
        """Poll now instead of waiting for the interval (e.g. a flow was just enabled)."""
        self._kick.set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.running:
            raise RuntimeError("poller already started")
        self._kick = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name="billsync-poller")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _loop(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception:
                log.exception("poll round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout=self.interval)
            self._kick.clear()
