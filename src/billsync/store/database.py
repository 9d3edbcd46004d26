"""The database handle: one async engine, write and read sessions, migrations.

SQLite (embedded mode) gets WAL, synchronous=NORMAL, busy_timeout and foreign keys on every
connection. pysqlite's implicit transactions are switched off (isolation_level=None) and
billsync emits BEGIN itself: IMMEDIATE for write sessions, so read-then-write transactions
take the write lock up front instead of failing with "database is locked" on upgrade
(stack.md §2.3, §4.11), and DEFERRED for read sessions, which WAL never blocks.

SQLite has one writer at a time anyway: write sessions of one Database queue on an
asyncio.Lock in the event loop, so a second writer waits for the first one's commit instead
of sleeping in SQLite's busy handler (a coarse backoff that left most pooled connections
asleep under load). Other processes on the same file still meet busy_timeout.

SQLite calls run on the event loop's thread (store/inline_sqlite.py): aiosqlite's hand-off
of each call to a worker thread cost more CPU than the statements themselves. So a write
transaction must never wait for the file lock inside SQLite (its busy handler would sleep
with the whole loop): `write()` begins it eagerly with busy_timeout 0 and, when another
process holds the lock, retries after an asyncio sleep (short, growing, jittered) for up to
`busy_seconds` before giving up with SQLite's "database is locked". Billsync processes
sharing a file first queue on a kernel lock beside it (store/file_lock.py), so between them
the retry loop rarely runs.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection as SyncConnection
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from billsync.store.file_lock import FileLock
from billsync.store.inline_sqlite import InlineConnection
from billsync.store.migrate import upgrade

_BEGIN_OPTION = "billsync_sqlite_begin"
#: Set on write sessions: their BEGIN IMMEDIATE fails at once when the file is locked, and
#: Database.write() retries it with asyncio sleeps.
_NOWAIT_OPTION = "billsync_sqlite_nowait"
_BUSY_TIMEOUT_MS = 5000  #: what every statement but a write transaction's BEGIN waits
_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}",
    "PRAGMA foreign_keys=ON",
)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _on_sqlite_begin(conn: SyncConnection) -> None:
    options = conn.get_execution_options()
    mode = options.get(_BEGIN_OPTION, "IMMEDIATE")
    driver = conn.connection.driver_connection
    raw = getattr(driver, "sqlite", None)
    if not isinstance(raw, sqlite3.Connection):
        conn.exec_driver_sql(f"BEGIN {mode}")
        return
    if mode == "DEFERRED":
        raw.execute("BEGIN DEFERRED")  # takes no lock, so never waits
        return
    if not options.get(_NOWAIT_OPTION):
        # Migrations and other direct engine users wait in SQLite's busy handler.
        conn.exec_driver_sql(f"BEGIN {mode}")
        return
    # Fail at once when another process writes; Database.write() waits without blocking.
    raw.execute("PRAGMA busy_timeout=0")
    try:
        raw.execute("BEGIN IMMEDIATE")
    finally:
        raw.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")


def _is_locked(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text


#: The database and its WAL/SHM files hold customers' personal data and token digests.
PRIVATE_MODE = 0o600


def make_private(database: str | None) -> None:
    """Create the SQLite file with mode 0600 before SQLite does (it would use the umask,
    usually 0644), and take group/other access away from an existing one and its -wal and
    -shm files. SQLite gives the -wal and -shm files the database file's mode."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    try:
        # O_EXCL: only ever open a file that did not exist. Closing *any* descriptor of a
        # file drops every POSIX lock this process holds on it, so opening and closing an
        # existing database here (once per new pooled connection) released the locks of
        # this process's other SQLite connections: another process could then reset the
        # WAL under a reader's snapshot (readers in the test process stopped seeing the
        # CLI's commits; see "How To Corrupt An SQLite Database File", section 2.2).
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        pass
    except OSError:
        return  # a missing directory: sqlite3.connect reports it
    else:
        os.close(fd)
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if each.stat().st_mode & 0o077:
                os.chmod(each, PRIVATE_MODE)
        except FileNotFoundError:
            continue


def _inline_creator(url: str) -> Any:
    """aiosqlite connections that execute inline, opened the way the dialect would."""
    parsed = make_url(url)
    args, options = parsed.get_dialect()().create_connect_args(parsed)

    def connect() -> sqlite3.Connection:
        make_private(parsed.database)
        connection: sqlite3.Connection = sqlite3.connect(*args, **options)  # type: ignore[call-overload]
        return connection

    def creator() -> InlineConnection:
        return InlineConnection(connect)

    return creator


class Database:
    """Owns the engine. `write()` and `read()` yield a session inside one transaction."""

    def __init__(self, url: str, *, echo: bool = False, busy_seconds: float = 5.0) -> None:
        self.url = url
        self.busy_seconds = busy_seconds
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "postgresql":
            kwargs["pool_pre_ping"] = True
        if self.dialect == "sqlite":
            kwargs["async_creator"] = _inline_creator(url)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        read_engine = self.engine
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _on_sqlite_connect)
            event.listen(self.engine.sync_engine, "begin", _on_sqlite_begin)
            read_engine = self.engine.execution_options(**{_BEGIN_OPTION: "DEFERRED"})
        write_engine = self.engine
        if self.is_sqlite:
            write_engine = self.engine.execution_options(**{_NOWAIT_OPTION: True})
        self._write_engine = write_engine
        self._writer = async_sessionmaker(write_engine, expire_on_commit=False)
        #: SQLite: the connection every write session of this process uses (they run one at
        #: a time, under the write lock): no pool checkout and reset per transaction
        self._write_conn: AsyncConnection | None = None
        self._write_lock: asyncio.Lock | None = None
        self._write_lock_loop: asyncio.AbstractEventLoop | None = None
        self._write_holder: asyncio.Task[Any] | None = None
        self._reader = async_sessionmaker(read_engine, expire_on_commit=False)
        path = self.sqlite_path
        self._file_lock = FileLock(path.with_name(path.name + ".write-lock")) if path else None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def sqlite_path(self) -> Path | None:
        """The database file, or None for PostgreSQL and in-memory SQLite."""
        if not self.is_sqlite:
            return None
        database = make_url(self.url).database
        if not database or database == ":memory:":
            return None
        return Path(database)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in a write transaction, committed on exit, rolled back on error."""
        if not self.is_sqlite or self._write_holder is asyncio.current_task():
            # PostgreSQL has row locks; a nested write in the task holding the lock keeps the
            # behaviour it always had (SQLite's busy handler) instead of deadlocking.
            async with self._writer() as session, session.begin():
                yield session
            return
        async with self._sqlite_write_lock(), self._other_processes():
            session = await self._begin_sqlite_write()
            try:
                yield session
                await session.commit()
            except BaseException:
                try:
                    await session.rollback()
                finally:
                    await self._drop_write_conn_if_invalid()
                raise
            finally:
                await session.close()

    async def _write_connection(self) -> AsyncConnection:
        if self._write_conn is None or self._write_conn.closed:
            self._write_conn = await self._write_engine.connect()
        return self._write_conn

    async def _drop_write_conn_if_invalid(self) -> None:
        conn = self._write_conn
        if conn is not None and (conn.invalidated or conn.in_transaction()):
            # A failed rollback or a lost connection: start the next write on a fresh one.
            self._write_conn = None
            await conn.close()

    @asynccontextmanager
    async def _other_processes(self) -> AsyncIterator[None]:
        if self._file_lock is None:
            yield
            return
        async with self._file_lock.hold():
            yield

    async def _begin_sqlite_write(self) -> AsyncSession:
        """A session whose BEGIN IMMEDIATE succeeded, waiting out other processes' writes."""
        deadline = time.monotonic() + self.busy_seconds
        delay = 0.0005
        while True:
            session = AsyncSession(bind=await self._write_connection(), expire_on_commit=False)
            try:
                await session.connection()  # autobegin: BEGIN IMMEDIATE (see _on_sqlite_begin)
                return session
            except (sqlite3.OperationalError, OperationalError) as exc:
                await session.close()
                if not _is_locked(exc) or time.monotonic() >= deadline:
                    if isinstance(exc, OperationalError):
                        raise
                    # Raised by the raw BEGIN in _on_sqlite_begin: wrap it like SQLAlchemy
                    # wraps every other driver error.
                    raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 0.005)

    @asynccontextmanager
    async def _sqlite_write_lock(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        if self._write_lock is None or self._write_lock_loop is not loop:
            self._write_lock = asyncio.Lock()
            self._write_lock_loop = loop
        lock = self._write_lock
        async with lock:
            self._write_holder = asyncio.current_task()
            try:
                yield
            finally:
                self._write_holder = None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session in a read-only (on SQLite: deferred) transaction."""
        if not self.is_sqlite:
            async with self._reader() as session, session.begin():
                yield session
            return
        # Not `async with session`: AsyncSession's exit closes in a shielded task, three
        # trips through the event loop per read on the hot path. SQLite's calls run inline,
        # so there is no I/O for a second cancellation to interrupt.
        session = self._reader()
        try:
            yield session
            await session.commit()
        finally:
            await session.close()

    @property
    def display_url(self) -> str:
        """The URL with any password masked, safe to show in messages."""
        return make_url(self.url).render_as_string(hide_password=True)

    async def exists(self) -> bool:
        """Whether a billsync database is already here, found without creating anything:
        the SQLite file exists, or PostgreSQL has the migrations' version table (connection
        errors propagate)."""
        if self.is_sqlite:
            path = self.sqlite_path
            return path is not None and path.exists()
        async with self.engine.connect() as conn:
            found = await conn.run_sync(lambda sync: inspect(sync).has_table("alembic_version"))
        return bool(found)

    async def migrate(self, revision: str = "head") -> None:
        """Bring the schema to `revision` with the migrations shipped in the package.
        Processes migrating one database at once take turns (PostgreSQL: an advisory lock in
        `upgrade`; SQLite: the cross-process write lock), so the first applies them."""
        async with self._other_processes():
            await upgrade(self.engine, revision)

    async def dispose(self) -> None:
        if self._write_conn is not None:
            await self._write_conn.close()
            self._write_conn = None
        await self.engine.dispose()
        if self._file_lock is not None:
            self._file_lock.close()
