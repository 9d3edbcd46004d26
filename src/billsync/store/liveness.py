"""Proof that a lease owner is alive, so a dead one's runs resume at once.

A lease alone cannot tell a dead owner from a slow one until it expires (60 s by default),
so a `billsync serve` restarted after a crash used to leave its predecessor's runs idle
for a minute. Now an embedded worker, before it claims anything, registers its owner id
(`live_owner`) and takes a lock that only its process can hold and that the operating
system or the database drops when the process dies:

- SQLite (one machine): `flock` on a file of its own in `<database>.owners/`; the kernel
  releases it when the process exits, however it exits (SIGKILL included).
- PostgreSQL: a session advisory lock (`pg_advisory_lock`) on a connection held for the
  owner's life; the server releases it when that session ends (the process died, or its
  machine did, once the server notices the connection is gone).

A registered owner whose lock anybody can take (SQLite) or nobody holds (PostgreSQL) is
dead: `dead_owners` names them, and the caller releases their leases and forgets them.
An owner that never registered (procrastinate's workers, which have their own recovery)
is never judged: its leases expire as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from billsync.store.database import Database
from billsync.store.models import LiveOwner

try:
    import fcntl
except ImportError:  # not POSIX: no liveness proof, leases expire as before
    fcntl = None  # type: ignore[assignment]

#: The first key of billsync's two-key advisory locks ("bs").
ADVISORY_NAMESPACE = 0x6273

_HELD_KEYS = sa.text(
    """
    SELECT objid FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid = :ns
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    """
)


def advisory_key(owner: str) -> int:
    """The owner's second advisory-lock key: 31 bits of its digest (an int4 that pg_locks
    shows unchanged as an oid). Two owners sharing a key only make a dead one look alive:
    its leases then expire, as without this module."""
    return int.from_bytes(hashlib.sha256(owner.encode()).digest()[:4], "big") & 0x7FFFFFFF


class Liveness:
    """The liveness lock of this process's owner, and the judgement of others'."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.owner: str | None = None
        self._fd: int | None = None
        self._conn: AsyncConnection | None = None
        path = db.sqlite_path
        self._dir = path.with_name(path.name + ".owners") if path is not None else None

    @property
    def supported(self) -> bool:
        """False for in-memory SQLite and systems without flock."""
        return not self._db.is_sqlite or (self._dir is not None and fcntl is not None)

    def _file(self, owner: str) -> Path:
        assert self._dir is not None
        return self._dir / f"{hashlib.sha256(owner.encode()).hexdigest()[:32]}.lock"

    async def start(self, owner: str, *, now: datetime) -> None:
        """Hold `owner`'s lock, then register it (in that order: a registered owner whose
        lock is free is dead)."""
        if not self.supported:
            return
        if self._db.is_sqlite:
            assert self._dir is not None
            self._dir.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(self._file(owner), os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh owner: never contended
            self._fd = fd
        else:
            conn = await self._db.engine.connect()
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(
                sa.text("SELECT pg_advisory_lock(:ns, :key)"),
                {"ns": ADVISORY_NAMESPACE, "key": advisory_key(owner)},
            )
            self._conn = conn
        async with self._db.write() as session:
            session.add(LiveOwner(owner=owner, started_at=now))
        self.owner = owner

    async def dead_owners(self) -> list[str]:
        """Registered owners, other than this process's, whose process is gone."""
        if not self.supported:
            return []
        async with self._db.read() as session:
            owners = list((await session.execute(sa.select(LiveOwner.owner))).scalars())
            others = [o for o in owners if o != self.owner]
            if not others or self._db.is_sqlite:
                held: set[int] = set()
            else:
                result = await session.execute(_HELD_KEYS, {"ns": ADVISORY_NAMESPACE})
                held = {int(k) for k in result.scalars()}
        if self._db.is_sqlite:
            return [o for o in others if not self._file_locked(o)]
        return [o for o in others if advisory_key(o) not in held]

    def _file_locked(self, owner: str) -> bool:
        try:
            fd = os.open(self._file(owner), os.O_RDWR)
        except FileNotFoundError:
            return False  # removed with its owner's registration pending: dead
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # also drops the lock just taken (flock: per open description)
        return False

    async def forget(self, owners: list[str]) -> None:
        """Unregister dead owners (after their leases were released)."""
        if not owners:
            return
        async with self._db.write() as session:
            await session.execute(sa.delete(LiveOwner).where(LiveOwner.owner.in_(owners)))
        if self._dir is not None:
            for owner in owners:
                with contextlib.suppress(FileNotFoundError):
                    self._file(owner).unlink()

    async def stop(self) -> None:
        """Unregister this owner and drop its lock (its leases are released already)."""
        owner, self.owner = self.owner, None
        if owner is not None:
            async with self._db.write() as session:
                await session.execute(sa.delete(LiveOwner).where(LiveOwner.owner == owner))
        if self._fd is not None:
            if self._dir is not None and owner is not None:
                with contextlib.suppress(FileNotFoundError):
                    self._file(owner).unlink()
            os.close(self._fd)
            self._fd = None
        conn, self._conn = self._conn, None
        if conn is not None:
            # close() alone would return the connection to the pool, its session (and lock)
            # alive: invalidate() closes the session; close() then gives the pool its slot
            # back (without it the garbage collector finds the checked-out connection).
            await conn.invalidate()
            await conn.close()
