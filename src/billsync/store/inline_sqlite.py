"""An aiosqlite connection that runs sqlite3 calls on the event loop's own thread.

aiosqlite hands every call (execute, fetch, commit, cursor, close) to a per-connection
thread and wakes the event loop when it is done. On this project's hot path that hand-off,
not SQLite, was the price of a statement: `bench/db_statement_cost.py` measured 1.1–1.5 ms
of CPU per transaction through the thread against 0.3–0.4 ms inline, and SQLite's own work
is ~0.01 ms (WAL, synchronous=NORMAL: a commit does not fsync). So this subclass keeps
aiosqlite's API (which SQLAlchemy's aiosqlite dialect drives, via `async_creator`) and
executes each call directly.

What that costs: a call blocks the loop while SQLite works. In-process writers already
queue on `Database`'s asyncio lock, so SQLite's busy handler only ever waits for *another
process* holding the write lock (a CLI command beside `billsync serve`), and the loop
stalls for that long (at most busy_timeout). WAL readers never wait. A checkpoint runs
inside the commit that triggers it (milliseconds, every ~1,000 pages).

What it relies on: aiosqlite's internals (`_tx`, `_connection`, `_running`, `_connector`,
`_execute`, `stop`), which SQLAlchemy's aiosqlite adapter also uses. aiosqlite is pinned
below its next minor in pyproject.toml, and tests/integration/store/test_inline_sqlite.py
checks that these names exist and that every call SQLAlchemy makes runs on the loop's thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Generator
from typing import Any

import aiosqlite

__all__ = ["InlineConnection"]


class _InlineQueue:
    """Stands in for aiosqlite's request queue, which SQLAlchemy's adapter also feeds
    directly (its isolation_level setter): run the request at once, settle its future."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # settle the future like aiosqlite's worker does
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """aiosqlite.Connection without its worker thread (see the module docstring)."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _InlineQueue()  # type: ignore[assignment]

    @property
    def sqlite(self) -> sqlite3.Connection | None:
        """The sqlite3 connection itself, for callers on the loop thread (store/prepared.py,
        the write BEGIN in store/database.py)."""
        return self._connection

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        return self._connect_inline().__await__()

    async def _connect_inline(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    def stop(self) -> asyncio.Future[Any] | None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        return None
