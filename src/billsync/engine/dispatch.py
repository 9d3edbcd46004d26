"""How a committed run reaches an executor.

Everything that makes a run runnable (intake, a retry, replay, a reconciliation fix,
recovery of a dead executor's runs, a cancel that lets an entity's next run go) calls
`await dispatcher.wake(session, run_ids)` inside its transaction, and `notify()` after the
commit. The embedded dispatcher needs nothing in the transaction (the run table is the
queue; the worker claims from it) and turns `notify()` into an in-process wake-up. The
procrastinate dispatcher defers a job on the same connection instead, so the job commits
or rolls back with the runs. Either way the run is executed by the same `Runner.execute`
(design invariant 9).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from billsync.store import run_jobs

if TYPE_CHECKING:  # procrastinate comes with the optional `postgres` extra
    from billsync.engine.job_queue import JobQueue


class Dispatcher(Protocol):
    async def wake(self, session: AsyncSession, run_ids: Sequence[int]) -> None:
        """Called inside the intake transaction, after the runs are inserted."""
        ...

    def notify(self) -> None:
        """Called after that transaction committed."""
        ...

    def add_hook(self, hook: Callable[[], None]) -> None:
        """Also call `hook` on every notify()."""
        ...


class EmbeddedDispatcher:
    """Wakes the in-process worker; its 1 s poll is the fallback if a wake-up is missed."""

    def __init__(self) -> None:
        self._listeners: list[asyncio.Event] = []
        self._hooks: list[Callable[[], None]] = []
        self.woken = 0  #: runs announced through wake(), for metrics and tests

    async def wake(self, session: AsyncSession, run_ids: Sequence[int]) -> None:
        # Nothing to write: the committed run rows are the queue.
        self.woken += len(run_ids)

    def notify(self) -> None:
        for listener in self._listeners:
            listener.set()
        for hook in self._hooks:
            hook()

    def add_hook(self, hook: Callable[[], None]) -> None:
        """Also call `hook` on every notify() (serve nudges its worker processes)."""
        self._hooks.append(hook)

    def subscribe(self) -> asyncio.Event:
        """An event set on every notify(); the subscriber clears it before claiming."""
        event = asyncio.Event()
        self._listeners.append(event)
        return event

    def unsubscribe(self, event: asyncio.Event) -> None:
        if event in self._listeners:
            self._listeners.remove(event)


class ProcrastinateDispatcher:
    """PostgreSQL scale-out: a procrastinate job per entity to drain, deferred on the
    caller's connection in its transaction, at the run's due time (a retry's backoff or
    Retry-After). Workers learn of new jobs through PostgreSQL's NOTIFY (sent at commit) or
    their next poll; notify() has nothing left to do in this process but its hooks."""

    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue
        self._hooks: list[Callable[[], None]] = []
        self.woken = 0  #: runs announced through wake()
        self.deferred = 0  #: drain jobs deferred

    async def wake(self, session: AsyncSession, run_ids: Sequence[int]) -> None:
        if not run_ids:
            return
        self.woken += len(run_ids)
        targets = await run_jobs.wake_targets(session, run_ids)
        self.deferred += await self.queue.defer(session, targets)

    def notify(self) -> None:
        for hook in self._hooks:
            hook()

    def add_hook(self, hook: Callable[[], None]) -> None:
        self._hooks.append(hook)
