"""Liveness locks: a registered owner whose lock is gone is dead; one holding it is alive;
one that never registered is never judged."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from billsync.store.database import Database
from billsync.store.liveness import Liveness


async def test_an_owner_whose_lock_is_gone_is_dead(db: Database) -> None:
    now = datetime.now(UTC)
    other = Database(db.url)  # another process: its own engine (and descriptors)
    alive, doomed, judge = Liveness(other), Liveness(other), Liveness(db)
    try:
        await alive.start("host:1:alive", now=now)
        await doomed.start("host:2:doomed", now=now)
        await judge.start("host:3:judge", now=now)
        assert await judge.dead_owners() == []
        # The process dies: the kernel closes its descriptor (SQLite) or the server ends
        # its session (PostgreSQL). Its registration stays behind.
        if doomed._fd is not None:
            os.close(doomed._fd)
            doomed._fd = None
        if doomed._conn is not None:
            await doomed._conn.invalidate()  # the session ends, as when a process dies
            doomed._conn = None
        assert await judge.dead_owners() == ["host:2:doomed"]
        await judge.forget(["host:2:doomed"])
        assert await judge.dead_owners() == []
    finally:
        await alive.stop()
        await judge.stop()
        await other.dispose()
