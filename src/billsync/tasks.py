"""Waiting and cancelling in background loops without losing a cancel.

A background loop (hint resolver, poller, worker) stops when its `stop()` cancels it and
awaits it. Two idioms lose that cancel on Python 3.11, and the `stop()` then waits forever
(`billsync serve` hung on SIGTERM):

- `asyncio.wait_for(event.wait(), timeout)` returns normally when the event is set in the
  same loop iteration as the cancel (3.11's wait_for returns the inner result if it is done
  when the cancel lands; 3.12 rewrote it on `asyncio.timeout`). A loop woken by every
  webhook hits this. `wait_event` uses `asyncio.timeout`, which re-raises a cancel that is
  not its own.
- `task.cancel(); with suppress(CancelledError): await task` swallows the *caller's*
  cancel when it lands while the caller waits for `task`. `cancel_and_wait` tells the two
  apart by the caller's pending-cancel count (`Task.cancelling()`).

tests/unit/test_tasks.py shows both losses with the plain idioms and their absence here.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["cancel_and_wait", "wait_event"]


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set (True) or `seconds` pass (False)."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def cancel_and_wait(*tasks: asyncio.Future[Any] | None) -> None:
    """Cancel `tasks` and wait until each has finished; an error one of them raised on the
    way out is raised here (the first), as `await task` would.

    If the caller itself is cancelled while it waits, that cancel is raised once every task
    has finished, not swallowed. A cancel the caller received *before* (this call running in
    a `finally` on the way out of a cancelled task) goes on propagating as it already does."""
    pending = [task for task in tasks if task is not None]
    for task in pending:
        task.cancel()
    cancelled_here = False
    for task in pending:
        while not task.done():
            try:
                await asyncio.wait([task])
            except asyncio.CancelledError:
                # asyncio.wait leaves `task` alone; it is on its way out already.
                cancelled_here = True
    if cancelled_here:
        raise asyncio.CancelledError
    failures = [task.exception() for task in pending if not task.cancelled()]
    failure = next((exc for exc in failures if exc is not None), None)
    if failure is not None:
        raise failure
