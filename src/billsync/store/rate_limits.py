"""Shared rate-limit buckets on PostgreSQL: one row per connection (`rate_limit_bucket`).

Every billsync process calling an app with one connection takes its tokens from the same
row, so the cluster together stays within the connection's limit, whatever the number of
processes. Each `take` is ONE statement: it locks the row, refills it by the time elapsed
on the database server's clock (so machines' clocks never disagree), grants up to `want`
tokens and saves the rest, atomically. A 429 (`penalize`) empties the row, halves its rate
and blocks it until the Retry-After has passed, for every process at once; each quiet
cool-down period doubles the rate back (the same arithmetic as engine/ratelimit.py's
in-process TokenBucket).

The statements run in autocommit on one connection per process kept for them: a pooled
checkout (with its pre-ping) and a BEGIN/COMMIT pair would triple the round trips of the
hottest statement billsync has.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from billsync.store.database import Database

_NOW = "extract(epoch FROM clock_timestamp())::float8"

_CREATE = sa.text(
    f"""
    INSERT INTO rate_limit_bucket
        (name, tokens, updated_at, blocked_until, penalty_level, penalized_at)
    VALUES (:name, CAST(:burst AS float8), {_NOW}, 0, 0, 0)
    ON CONFLICT (name) DO NOTHING
    """
)

#: The row locked (FOR UPDATE: concurrent takes queue on it), the penalty level in force
#: now, the refill at that level, the grant. Parameters: name, rate, burst, want, cooldown.
_LEVEL = f"""
    WITH cur AS (
        SELECT name, tokens, updated_at, blocked_until, penalty_level, penalized_at,
               {_NOW} AS now
        FROM rate_limit_bucket WHERE name = :name FOR UPDATE
    ), lvl AS (
        SELECT cur.*,
               CASE WHEN penalty_level = 0 OR CAST(:cooldown AS float8) <= 0 THEN 0
                    ELSE greatest(0, penalty_level
                         - floor((now - penalized_at) / CAST(:cooldown AS float8))::int)
               END AS level
        FROM cur
    )
"""

_TAKE = sa.text(
    _LEVEL
    + """
    , fill AS (
        SELECT lvl.*,
               CAST(:rate AS float8) / power(2.0, level)::float8 AS eff,
               least(CAST(:burst AS float8),
                     tokens + greatest(0.0, now - greatest(updated_at, blocked_until))
                              * CAST(:rate AS float8) / power(2.0, level)::float8) AS avail
        FROM lvl
    ), g AS (
        SELECT fill.*,
               CASE WHEN blocked_until > now THEN 0
                    ELSE least(CAST(:want AS int), floor(avail + 1e-9)::int) END AS granted
        FROM fill
    )
    UPDATE rate_limit_bucket b
    SET tokens = greatest(g.avail - g.granted, 0.0), updated_at = g.now
    FROM g WHERE b.name = g.name
    RETURNING g.granted, greatest(g.avail - g.granted, 0.0), g.eff, g.blocked_until - g.now
    """
)

_PENALIZE = sa.text(
    _LEVEL
    + """
    UPDATE rate_limit_bucket b
    SET tokens = 0,
        updated_at = lvl.now,
        penalty_level = least(lvl.level + 1, CAST(:max_level AS int)),
        penalized_at = lvl.now,
        blocked_until = CASE WHEN CAST(:retry_after AS float8) > 0
            THEN greatest(lvl.blocked_until, lvl.now + CAST(:retry_after AS float8))
            ELSE lvl.blocked_until END
    FROM lvl WHERE b.name = lvl.name
    """
)

_BLOCKED = sa.text(
    f"SELECT greatest(0.0, blocked_until - {_NOW}) FROM rate_limit_bucket WHERE name = :name"
)

_FORGET = sa.text("DELETE FROM rate_limit_bucket WHERE name = :name")


@dataclass(frozen=True)
class Grant:
    granted: int  #: tokens taken now (0..want)
    wait: float  #: seconds until another token may exist (0 when all were granted)
    rate: float  #: the rate in force after any 429 penalty


class RateLimitStore:
    """The shared buckets of one PostgreSQL database, on one autocommit connection."""

    def __init__(self, db: Database) -> None:
        if db.is_sqlite:
            raise ValueError("shared rate-limit buckets need PostgreSQL")
        self._db = db
        self._conn: AsyncConnection | None = None
        self._lock: asyncio.Lock | None = None
        self._created: set[str] = set()
        #: checkouts whose caller was cancelled while they ran; aclose() closes them
        self._orphans: set[asyncio.Future[AsyncConnection]] = set()
        self.statements = 0  #: statements sent, for the benchmark and tests

    async def _connect(self) -> AsyncConnection:
        conn = await self._db.engine.connect()
        return await conn.execution_options(isolation_level="AUTOCOMMIT")

    async def _execute(
        self, stmt: sa.TextClause, params: dict[str, object]
    ) -> tuple[Any, ...] | None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._conn is None or self._conn.closed or self._conn.invalidated:
                # A cancel (shutdown) during a checkout would drop the checked-out connection
                # unreturned (the garbage collector then finds it): the checkout finishes
                # shielded, and aclose() closes what it returns.
                opening = asyncio.ensure_future(self._connect())
                try:
                    self._conn = await asyncio.shield(opening)
                except asyncio.CancelledError:
                    self._orphans.add(opening)
                    raise
            self.statements += 1
            try:
                result = await self._conn.execute(stmt, params)
            except BaseException:
                # A lost or broken connection (or a cancel mid-statement): a fresh one next.
                conn, self._conn = self._conn, None
                await asyncio.shield(conn.close())
                raise
            row = result.first() if result.returns_rows else None
            return None if row is None else tuple(row)

    async def take(
        self, name: str, *, rate: float, burst: int, want: int, cooldown: float
    ) -> Grant:
        """Take up to `want` tokens from the bucket `name` (created full on first use)."""
        params = {"name": name, "rate": rate, "burst": burst, "want": want, "cooldown": cooldown}
        if name not in self._created:
            await self._execute(_CREATE, {"name": name, "burst": burst})
            self._created.add(name)
        row = await self._execute(_TAKE, params)
        if row is None:  # the row was deleted (connection removed meanwhile): start again
            self._created.discard(name)
            await self._execute(_CREATE, {"name": name, "burst": burst})
            self._created.add(name)
            row = await self._execute(_TAKE, params)
            assert row is not None
        granted, left, eff, blocked = int(row[0]), float(row[1]), float(row[2]), float(row[3])
        if granted >= want:
            wait = 0.0
        elif blocked > 0:
            wait = blocked
        else:
            wait = (1.0 - left) / eff if eff > 0 else 0.0
        return Grant(granted=granted, wait=max(wait, 0.0), rate=eff)

    async def penalize(
        self, name: str, *, retry_after: float | None, burst: int, max_level: int, cooldown: float
    ) -> None:
        """A 429: empty the bucket, halve its rate, block it for `retry_after` seconds."""
        if name not in self._created:
            await self._execute(_CREATE, {"name": name, "burst": burst})
            self._created.add(name)
        await self._execute(
            _PENALIZE,
            {
                "name": name,
                "retry_after": retry_after or 0.0,
                "max_level": max_level,
                "cooldown": cooldown,
            },
        )

    async def blocked_for(self, name: str) -> float:
        """Seconds the bucket is still blocked by a Retry-After (0 when it is not)."""
        row = await self._execute(_BLOCKED, {"name": name})
        return 0.0 if row is None else float(row[0])

    async def forget(self, name: str) -> None:
        self._created.discard(name)
        await self._execute(_FORGET, {"name": name})

    async def aclose(self) -> None:
        orphans, self._orphans = self._orphans, set()
        for opening in orphans:
            try:
                await (await opening).close()
            except Exception:  # noqa: S112 - a failed checkout holds nothing to return
                continue
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
