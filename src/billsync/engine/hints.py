"""The hint resolver: turns stored webhook hints into events, many hints per provider call.

Togai signs nothing, so its webhook is a hint and the entity is re-fetched before any flow
runs (the re-fetch is the trust anchor). Intake commits the hint and acknowledges the
delivery; this loop then takes every waiting hint of a connection, kind by kind in the
app's order (accounts before invoices, so an invoice sees its account's event stored),
asks the connector to resolve them (`AppSpec.resolve_hints`: a list sweep when enough are
waiting, else one GET each) and stores the resulting events and runs through intake,
deleting the resolved hints in the same transaction. A crash in between leaves the hints,
which are resolved again; the events' external ids make that a no-op.

Batching comes for free under load: hints that arrive while a resolution waits for the
connection's rate-limit tokens are resolved together next round, and a round starts only
once deliveries pause for `window` seconds (at most `max_wait` after the first), so a burst
of deliveries shares one round even when the connection is idle.
A failed resolution is retried with backoff; the pollers stay the safety net.

Once per cluster: every process that takes webhooks runs a resolver, and each sees every
connection's hints in the database. A connection's round runs in the process holding its
claim (store/hint_claims.py), renewed while the round runs and released at its end; a
process that finds the round taken tries again shortly (its hints wait in the database,
and whatever the holder's round did not take is resolved then). A holder that dies stops
renewing: its claim is free CLAIM_S later. The claim row records when hints were last
resolved for the connection, which every process's poller defers to.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Sequence
from datetime import timedelta

import structlog

from billsync import errors
from billsync.clock import Clock, SystemClock
from billsync.connectors import spec
from billsync.engine import calls
from billsync.engine.clients import ClientCache
from billsync.engine.intake import Intake
from billsync.engine.ratelimit import RateLimiters, connection_rate
from billsync.store import connections, events, hint_claims, hints, runs
from billsync.store.database import Database
from billsync.tasks import cancel_and_wait, wait_event

log = structlog.get_logger(__name__)

#: Hints taken per connection per round.
BATCH = 1000
#: A round starts once no delivery came for this long (seconds)...
DEFAULT_WINDOW_S = 0.25
#: ...or this long after the first waiting one...
DEFAULT_MAX_WAIT_S = 2.0
#: ...or, once `window` has passed, as soon as fewer runs than this are queued: the
#: executors are about to run dry, so waiting for a larger round would leave them idle.
DEFAULT_HUNGRY_BELOW = 100
#: Backoff after a failed round, doubling up to the maximum.
RETRY_MIN_S = 1.0
RETRY_MAX_S = 60.0
#: A round's claim lasts this long unless renewed: how long a dead holder's claim blocks the
#: other processes (the holder renews it every third of that while its round runs).
CLAIM_S = 15.0
#: A round taken by another process is tried again after this pause.
BUSY_RETRY_S = 0.5


class HintResolver:
    def __init__(
        self,
        db: Database,
        registry: spec.Registry,
        clients: ClientCache,
        intake: Intake,
        *,
        limiters: RateLimiters | None = None,
        clock: Clock | None = None,
        window: float = DEFAULT_WINDOW_S,
        max_wait: float = DEFAULT_MAX_WAIT_S,
        hungry_below: int = DEFAULT_HUNGRY_BELOW,
    ) -> None:
        self._db = db
        self._registry = registry
        self._clients = clients
        self._intake = intake
        self._limiters = limiters or RateLimiters()
        self._clock = clock or SystemClock()
        self.window = window
        self.max_wait = max_wait
        self.hungry_below = hungry_below
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: (connection, kind) → pages the last list sweep took
        self._list_pages: dict[tuple[int, str], int] = {}
        #: (connection, kind) → where the next sweep of that list resumes
        self._resume: dict[tuple[int, str], str] = {}
        self.rounds = 0  #: completed rounds, for tests
        #: connection rounds found taken by another process (see store/hint_claims.py)
        self.elsewhere = 0
        #: this resolver's name in the hint claims it holds
        self.holder = uuid.uuid4().hex
        #: a round left some hints for later (a fetch failed): retry after a pause
        self._partial = False
        #: a connection's round was taken elsewhere: retry shortly
        self._busy = False
        intake.on_hint(self.notify)

    def notify(self) -> None:
        self._wake.set()

    async def resolve_once(self) -> int:
        """One round over every connection with waiting hints; returns the hints resolved.
        Raises the first failure after trying every connection."""
        async with self._db.read() as session:
            waiting = await hints.pending_connections(session)
        resolved = 0
        failure: BaseException | None = None
        for connection_id in waiting:
            try:
                resolved += await self._resolve_connection(connection_id)
            except errors.SyncError as exc:
                failure = failure or exc
                log.warning(
                    "webhook hints not resolved; retrying",
                    connection_id=connection_id,
                    error=exc.message,
                )
        self.rounds += 1
        if failure is not None:
            raise failure
        return resolved

    async def _resolve_connection(self, connection_id: int) -> int:
        """The connection's round, if this process gets its claim (else 0, retried soon)."""
        if not await self._claim(connection_id):
            self.elsewhere += 1
            self._busy = True
            return 0
        renewing = asyncio.create_task(self._keep_claim(connection_id))
        progress = [0]
        try:
            return await self._resolve_claimed(connection_id, progress)
        finally:
            await cancel_and_wait(renewing)
            await self._release(connection_id, resolved=progress[0] > 0)

    async def _claim(self, connection_id: int) -> bool:
        now = self._clock.now()
        async with self._db.write() as session:
            return await hint_claims.claim(
                session,
                connection_id,
                holder=self.holder,
                now=now,
                until=now + timedelta(seconds=CLAIM_S),
            )

    async def _keep_claim(self, connection_id: int) -> None:
        """Renew the claim while the round runs (a sweep under a rate limit can take long)."""
        while True:
            await asyncio.sleep(CLAIM_S / 3)
            try:
                kept = await self._claim(connection_id)
            except Exception:
                log.exception("hint claim not renewed", connection_id=connection_id)
                continue
            if not kept:
                # Only after a stall longer than CLAIM_S: the two rounds then overlap, which
                # costs duplicate fetches, not duplicate events.
                log.warning("hint claim taken over mid-round", connection_id=connection_id)

    async def _release(self, connection_id: int, *, resolved: bool) -> None:
        try:
            async with self._db.write() as session:
                await hint_claims.release(
                    session,
                    connection_id,
                    holder=self.holder,
                    now=self._clock.now(),
                    resolved=resolved,
                )
        except Exception as exc:
            # The claim lapses by itself after CLAIM_S; the round's outcome stands.
            log.warning("hint claim not released", connection_id=connection_id, error=str(exc))

    async def _resolve_claimed(self, connection_id: int, progress: list[int]) -> int:
        """Resolve the connection's waiting hints; `progress[0]` counts those resolved so
        far (the claim's release records whether any were, even after a failure)."""
        async with self._db.read() as session:
            row = await connections.get(session, connection_id)
            waiting = await hints.pending(session, connection_id, limit=BATCH)
        if row is None or not waiting:
            return 0
        if len(waiting) == BATCH:
            self._wake.set()  # more are waiting: another round right after this one
        app = self._registry.app(row.app)
        if app.resolve_hints is None:
            log.warning("dropping hints of an app that cannot resolve them", app=row.app)
            await self._intake.store(row.id, [], resolved_hints=[h.id for h in waiting])
            return len(waiting)
        client = await self._clients.get(row)
        bucket = self._limiters.get(str(row.id), connection_rate(row))
        known = functools.partial(self._known, row.id)
        kinds = list(app.hint_kinds) + sorted({h.hint.kind for h in waiting} - set(app.hint_kinds))
        resolved = 0
        for kind in kinds:
            batch = [h for h in waiting if h.hint.kind == kind]
            if not batch:
                continue
            try:
                with calls.purpose("refetch"):
                    found = await app.resolve_hints(
                        client,
                        kind,
                        [h.hint for h in batch],
                        known,
                        list_pages=self._list_pages.get((row.id, kind)),
                        resume=self._resume.get((row.id, kind)),
                    )
            except errors.RateLimitedError as exc:
                bucket.penalize(exc.retry_after)
                raise
            if found.list_pages is not None:
                self._list_pages[(row.id, kind)] = found.list_pages
            if found.resume:
                self._resume[(row.id, kind)] = found.resume
            elif found.resume == "":
                self._resume.pop((row.id, kind), None)
            done = [h.id for h in batch if h.hint.entity_id not in found.unresolved]
            # Stored kind by kind: an invoice's resolution asks whether its account's
            # event is in the inbox.
            await self._intake.store(
                row.id, list(found.events), source="webhook", resolved_hints=done
            )
            resolved += len(done)
            progress[0] = resolved
            if len(done) < len(batch):
                self._partial = True
        return resolved

    async def _known(self, connection_id: int, external_ids: Sequence[str]) -> set[str]:
        async with self._db.read() as session:
            return await events.known_external_ids(session, connection_id, external_ids)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.running:
            raise RuntimeError("hint resolver already started")
        self._wake = asyncio.Event()
        self._wake.set()  # hints left by an earlier process
        self._task = asyncio.create_task(self._loop(), name="billsync-hints")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        await cancel_and_wait(task)

    async def _gather(self) -> None:
        """Let a burst of deliveries arrive: wait until none came for `window` seconds, or
        `max_wait` seconds have passed since the first, or (checked once per `window`) the
        queue of runs is nearly empty.

        The last is what keeps a long burst from idling the executors: deliveries that never
        pause would otherwise hold every round to `max_wait`, and the first runs of a burst
        would start only then. Once runs pile up, rounds grow again (fewer list calls)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = start + self.max_wait
        checked = start
        while True:
            self._wake.clear()
            now = loop.time()
            left = deadline - now
            if not self.window or left <= 0:
                return
            if self.hungry_below and now - checked >= self.window:
                checked = now
                if await self._hungry():
                    return
            if not await wait_event(self._wake, min(self.window, left)):
                return

    async def _hungry(self) -> bool:
        try:
            async with self._db.read() as session:
                queued = await runs.queued_at_least(session, self.hungry_below)
        except Exception as exc:  # the round then waits as it would have anyway
            log.warning("queued runs not counted", error=str(exc))
            return False
        return queued < self.hungry_below

    async def _loop(self) -> None:
        delay = RETRY_MIN_S
        while True:
            await self._wake.wait()
            await self._gather()
            try:
                self._partial = self._busy = False
                await self.resolve_once()
                delay = RETRY_MIN_S
                if self._busy and not self._partial:
                    # Another process holds a round: its hints wait in the database.
                    await wait_event(self._wake, BUSY_RETRY_S)
                    self._wake.set()
                elif self._partial:
                    # Progress was made; what failed is tried again after a short pause.
                    await wait_event(self._wake, RETRY_MIN_S)
                    self._wake.set()
            except Exception as exc:
                if not isinstance(exc, errors.SyncError):
                    log.exception("hint round crashed")
                # Hints stay stored; try again after a pause (or sooner on a new hint).
                await wait_event(self._wake, delay)
                delay = min(delay * 2, RETRY_MAX_S)
                self._wake.set()
