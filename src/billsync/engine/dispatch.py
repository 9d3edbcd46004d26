"""How a committed run reaches an executor.

Intake calls `await dispatcher.wake(session, run_ids)` inside the transaction that stores
the event and its runs, and `dispatcher.notify()` after the commit. The embedded dispatcher
needs nothing in the transaction (the run table is the queue; the worker claims from it)
and turns `notify()` into an in-process wake-up. A scale-out dispatcher defers a job on the
same connection instead, so the job commits or rolls back with the runs. Either way the run
is executed by the same `Runner.execute` (design invariant 9).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession


class Dispatcher(Protocol):
    async def wake(self, session: AsyncSession, run_ids: Sequence[int]) -> None:
        """Called inside the intake transaction, after the runs are inserted."""
        ...

    def notify(self) -> None:
        """Called after that transaction committed."""
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
