"""The poller: polling triggers as a safety net for lost or missing webhooks.

For each connection that is the trigger of an enabled flow on a polling trigger, the app's
poller runs from the persisted cursor: per trigger (AppSpec.poll: Togai) every `interval`
seconds, or, for an app with a catch-up walk (AppSpec.catch_up: Razorpay's payment list),
once per connection for all the triggers it serves, every `interval_option` seconds of
that connection. Its events go through the same intake path as webhooks (same dedupe: a
change already delivered by webhook creates nothing new) and the new cursor is saved in the
transaction that stores them, so a crash between the two can neither lose nor double an
event. Every request takes a token from the connection's rate-limit bucket, shared with the
runner.

Once per cluster: every process that polls (each `billsync serve`) may see the same targets,
but a target is polled by the process holding its claim (store/periodic.py): the holder
renews it at each poll, on its own interval; another process takes the target over only when
the claim is overdue by half an interval (its holder stopped or died), or when a user asks
for a poll now (`kick`, e.g. a flow was enabled). So two processes on one database poll a
connection once per interval, not twice. A holder that defers a poll to webhooks (hints any
process resolved for the connection lately) still renews its claim, so no other process takes
the target over to poll it.
"""

from __future__ import annotations

import asyncio
import functools
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from billsync import errors
from billsync.clock import Clock, SystemClock
from billsync.connectors import spec
from billsync.engine import calls
from billsync.engine.clients import ClientCache
from billsync.engine.flow import parse_flow
from billsync.engine.intake import Intake, PollCursor
from billsync.engine.ratelimit import RateLimiters, connection_rate
from billsync.store import connections, cursors, events, flows, hint_claims, periodic
from billsync.store.database import Database
from billsync.store.models import Connection
from billsync.tasks import cancel_and_wait, wait_event

log = structlog.get_logger(__name__)

#: Longest a poll waits while webhooks arrive: the safety net still runs this often.
MAX_DEFER_S = 300.0
#: The loop never sleeps less than this between rounds (a 1 s interval still yields).
_MIN_SLEEP = 0.2


@dataclass(frozen=True)
class PollTarget:
    connection_id: int
    trigger: str  #: the trigger, or the catch-up walk's cursor name
    #: Catch-up only: the triggers its walk serves (those enabled flows listen to).
    triggers: frozenset[str] = frozenset()


@dataclass
class PollReport:
    polled: int = 0  #: (connection, trigger) pairs polled
    events: int = 0  #: events the pollers returned
    stored: int = 0  #: events new to the inbox
    runs: int = 0
    failed: int = 0  #: polls that raised (logged; retried next interval)
    deferred: int = 0  #: polls put off while webhooks arrive (see Poller._deferred)
    elsewhere: int = 0  #: due polls another process holds the claim of (polls them itself)


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
        #: (connection, trigger) → loop time of its next poll, and its interval.
        self._next_due: dict[tuple[int, str], float] = {}
        self._intervals: dict[tuple[int, str], float] = {}
        self._last_polled: dict[tuple[int, str], float] = {}
        #: this poller's name in the poll claims it holds (store/periodic.py)
        self.holder = uuid.uuid4().hex
        self._forced = False  #: kick(): the next round polls every target, claimed or not

    def _deferred(self, target: PollTarget, now: float, webhooks_seen: dict[int, datetime]) -> bool:
        """While a connection's webhooks are demonstrably arriving (`webhooks_seen`: when
        any process last resolved hints for it, store/hint_claims.py), its polls wait, up to
        MAX_DEFER_S since this process last polled it: a poll re-reads whole lists (Togai:
        pages of every account and DUE invoice) and would spend a rate-limited connection's
        calls on what the webhooks already delivered."""
        if target.triggers:
            return False  # catch-up walks cover other apps' triggers: never deferred
        key = (target.connection_id, target.trigger)
        seen = webhooks_seen.get(target.connection_id)
        last = self._last_polled.get(key)
        return (
            seen is not None
            and (self._clock.now() - seen).total_seconds() < self.interval
            and last is not None
            and now - last < MAX_DEFER_S
        )

    async def targets(self) -> list[PollTarget]:
        """What an enabled flow listens to and can be polled: (connection, trigger) pairs,
        and one catch-up target per connection whose app walks one list for several."""
        found: set[PollTarget] = set()
        walks: dict[tuple[int, str], set[str]] = {}
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
                if row is None:
                    continue
                trigger = defn.trigger.trigger
                catch_up = self._catch_up(row.app, trigger)
                if catch_up is not None:
                    walks.setdefault((connection_id, catch_up.cursor), set()).add(trigger)
                elif self._pollable(row.app, trigger):
                    found.add(PollTarget(connection_id, trigger))
        for (connection_id, cursor), triggers in walks.items():
            found.add(PollTarget(connection_id, cursor, frozenset(triggers)))
        return sorted(found, key=lambda t: (t.connection_id, t.trigger))

    def _pollable(self, app_name: str, trigger: str) -> bool:
        try:
            app = self._registry.app(app_name)
            trigger_spec = app.trigger(trigger)
        except KeyError:
            return False
        return trigger_spec.polling and trigger in app.poll

    def _catch_up(self, app_name: str, trigger: str) -> spec.CatchUp | None:
        try:
            catch_up = self._registry.app(app_name).catch_up
        except KeyError:
            return None
        return catch_up if catch_up is not None and trigger in catch_up.triggers else None

    def interval_of(self, row: Connection, target: PollTarget) -> float:
        """Seconds between polls of `target`: the connection's catch-up option, or the
        poller's interval."""
        catch_up = self._registry.app(row.app).catch_up if target.triggers else None
        if catch_up is None:
            return self.interval
        raw = row.options.get(catch_up.interval_option)
        try:
            seconds = float(raw) if raw is not None else catch_up.default_interval
        except (TypeError, ValueError):
            seconds = catch_up.default_interval
        return seconds if math.isfinite(seconds) and seconds > 0 else catch_up.default_interval

    async def poll_once(self, *, only_due: bool = False) -> PollReport:
        """One round over every target (only those whose interval has passed when
        `only_due`); a failing target does not stop the others."""
        report = PollReport()
        loop = asyncio.get_running_loop()
        # An explicit round (not only_due) or a kick polls now, taking over other claims.
        forced = self._forced or not only_due
        self._forced = False
        targets = await self.targets()
        webhooks_seen: dict[int, datetime] = {}
        if only_due:
            async with self._db.read() as session:
                webhooks_seen = await hint_claims.resolved_at(session)
        current = {(t.connection_id, t.trigger) for t in targets}
        for gone in set(self._next_due) - current:
            # A target no flow listens to any more must not set the loop's pace.
            del self._next_due[gone]
        for target in targets:
            key = (target.connection_id, target.trigger)
            if only_due and self._next_due.get(key, 0.0) > loop.time():
                continue
            try:
                # The claim comes first, also for a poll deferred below: its holder keeps
                # it while deferring, so another process does not take the target over
                # and poll what the webhooks deliver.
                if not await self._claim(target, force=forced):
                    report.elsewhere += 1
                    continue
                if only_due and self._deferred(target, loop.time(), webhooks_seen):
                    report.deferred += 1
                    continue
                self._last_polled[key] = loop.time()
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
            finally:
                self._next_due[key] = loop.time() + self._intervals.get(key, self.interval)
            report.polled += 1
            report.events += events
            report.stored += stored
            report.runs += run_count
        self.rounds += 1
        return report

    async def _claim(self, target: PollTarget, *, force: bool) -> bool:
        """Whether this process polls `target` now (it holds, or takes, the target's claim)."""
        interval = self._intervals.get((target.connection_id, target.trigger), self.interval)
        now = self._clock.now()
        async with self._db.write() as session:
            return await periodic.claim(
                session,
                f"poll:{target.connection_id}:{target.trigger}",
                holder=self.holder,
                now=now,
                # Half an interval late: the holder has missed its poll (stopped or died).
                due_at=now + timedelta(seconds=1.5 * interval),
                force=force,
            )

    async def poll_target(self, target: PollTarget) -> tuple[int, int, int]:
        """Poll one trigger of one connection: (events seen, stored, runs created)."""
        async with self._db.read() as session:
            row = await connections.get(session, target.connection_id)
            cursor = await cursors.get(session, target.connection_id, target.trigger)
        if row is None:
            return 0, 0, 0
        self._intervals[(target.connection_id, target.trigger)] = self.interval_of(row, target)
        app = self._registry.app(row.app)
        client = await self._clients.get(row)
        bucket = self._limiters.get(str(row.id), connection_rate(row))
        known = functools.partial(self._known, row.id)
        try:
            with calls.purpose("poll"):
                if target.triggers and app.catch_up is not None:
                    # A catch-up walk looks for what webhooks missed since the connection
                    # existed: its first poll is no baseline (see the app's poller).
                    incoming, new_cursor = await app.catch_up.poll(
                        client,
                        cursor,
                        known,
                        triggers=target.triggers,
                        now=self._clock.now(),
                        start=row.created_at,
                    )
                else:
                    incoming, new_cursor = await app.poll[target.trigger](client, cursor, known)
        except errors.RateLimitedError as exc:
            bucket.penalize(exc.retry_after)
            raise
        if (
            cursor is None
            and not target.triggers
            and row.options.get("poll_start", "now") != "backfill"
        ):
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
        """Poll every target now instead of waiting for its interval (e.g. a flow was just
        enabled)."""
        self._next_due.clear()
        self._forced = True
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
        await cancel_and_wait(task)

    def _sleep(self) -> float:
        """Until the next target is due (targets appear within `interval`)."""
        now = asyncio.get_running_loop().time()
        due = min(self._next_due.values(), default=now + self.interval)
        return max(_MIN_SLEEP, min(self.interval, due - now))

    async def _loop(self) -> None:
        while True:
            try:
                await self.poll_once(only_due=True)
            except Exception:
                log.exception("poll round failed")
            await wait_event(self._kick, self._sleep())
            self._kick.clear()
