"""A cross-process write lock for one SQLite file: `flock` on a lock file beside it.

SQLite lets one process write at a time, and a process that finds the file locked can only
poll (its busy handler, or billsync's retry loop, sleeps and tries again). Between
billsync processes sharing a database (`serve` and its `billsync worker`s) that polling
left the lock idle between a release and the next try, and cost CPU per failed BEGIN. So
billsync processes queue on this kernel lock first: a waiter is woken the moment the
holder releases it, and BEGIN IMMEDIATE then succeeds at once. Tools that are not billsync
(the sqlite3 shell) don't know this lock; `Database.write()` still retries for them.

The uncontended path is one non-blocking `flock` call on the loop thread; a contended one
waits in a thread (one per process: in-process writers already queue on an asyncio.Lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no cross-process queue, the retry loop alone applies
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileLock"]


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def _open(self) -> int | None:
        if fcntl is None:
            return None
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        fd = self._open()
        if fd is None:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting = asyncio.get_running_loop().run_in_executor(
                None, fcntl.flock, fd, fcntl.LOCK_EX
            )
            try:
                await asyncio.shield(waiting)
            except asyncio.CancelledError:
                # The thread still gets the lock eventually: give it back then, or every
                # billsync process on this database would wait forever.
                waiting.add_done_callback(lambda done: _release_if_taken(done, fd))
                raise
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _release_if_taken(done: asyncio.Future[None], fd: int) -> None:
    if not done.cancelled() and done.exception() is None:
        fcntl.flock(fd, fcntl.LOCK_UN)
