"""A connection's rate limit for the whole cluster: the TokenBucket's interface over the
connection's row in PostgreSQL (store/rate_limits.py).

Cost: the callers waiting in this process at a moment share one round trip. A pump task
asks the row for as many tokens as there are waiters (never more than the burst) and hands
the grant out at once, in arrival order; only when the row had fewer does it sleep, for as
long as the next token takes. So a busy process pays one statement per batch of requests,
an idle one one per request.

Why it never exceeds the limit: every request sent is preceded by one token granted by the
row, and the row is a token bucket of the connection's rate and burst whose every change is
one atomic statement, whichever process makes it. Tokens are never stored in a process: a
grant goes to callers that are waiting now, and a token whose caller was cancelled meanwhile
is dropped, never spent later (a saved-up token would let a process add its savings to the
row's burst). So the requests the whole cluster sends in any interval of t seconds are at
most burst + rate * t, as for one process with the in-process bucket.

A 429 seen by any process (`penalize`) blocks this process at once and, through the row,
every other at its next take: Retry-After, halved rate, cool-down, as in engine/ratelimit.py.
An unlimited connection (rate 0) takes no tokens; it reads the row's Retry-After block at
most every UNLIMITED_CHECK_S, so another process's 429 stops it within that time.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import structlog

from billsync.store.rate_limits import RateLimitStore
from billsync.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

#: How stale an unlimited connection's view of the shared Retry-After block may be.
UNLIMITED_CHECK_S = 1.0
#: Shortest sleep between takes that came back short: the row's arithmetic may promise a
#: token in microseconds, and a statement per microsecond would only load the database.
MIN_WAIT_S = 0.002


class SharedBucket:
    """The TokenBucket interface (acquire, penalize, configure) over a shared row."""

    def __init__(
        self,
        store: RateLimitStore,
        name: str,
        rate: float,
        burst: int,
        *,
        cooldown: float,
        max_level: int,
    ) -> None:
        self._store = store
        self._name = name
        self._rate = rate
        self._burst = burst
        self.cooldown = cooldown
        self._max_level = max_level
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._pump: asyncio.Task[None] | None = None
        self._blocked_until = 0.0  #: monotonic; this process's own 429, known at once
        self._checked_at = -UNLIMITED_CHECK_S
        self._current_rate = rate
        self._tasks: set[asyncio.Task[None]] = set()

    def configure(self, rate: float, burst: int) -> None:
        self._rate, self._burst = rate, burst

    @property
    def configured_rate(self) -> float:
        return self._rate

    @property
    def burst(self) -> int:
        return self._burst

    def current_rate(self) -> float:
        """The rate in force at the last take (after any 429 penalty)."""
        return self._current_rate if self._rate > 0 else 0.0

    async def acquire(self) -> None:
        """Wait until the cluster may make one more call on this connection."""
        if self._rate == 0:
            await self._wait_unlimited()
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        if self._pump is None or self._pump.done():
            self._pump = loop.create_task(self._serve(), name=f"billsync-ratelimit-{self._name}")
        await waiter

    async def _serve(self) -> None:
        while True:
            while self._waiters and self._waiters[0].done():
                self._waiters.popleft()  # cancelled callers
            if not self._waiters:
                return
            blocked = self._blocked_until - time.monotonic()
            if blocked > 0:
                await asyncio.sleep(blocked)
                continue
            want = min(sum(1 for w in self._waiters if not w.done()), self._burst)
            try:
                grant = await self._store.take(
                    self._name,
                    rate=self._rate,
                    burst=self._burst,
                    want=want,
                    cooldown=self.cooldown,
                )
            except Exception as exc:
                # The database is unreachable: the callers fail like a failed request would
                # (the engine retries), rather than call the app unpaced.
                log.warning("shared rate limit unavailable", bucket=self._name, error=str(exc))
                waiters, self._waiters = self._waiters, deque()
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                return
            self._current_rate = grant.rate
            handed = 0
            while handed < grant.granted and self._waiters:
                waiter = self._waiters.popleft()
                if not waiter.done():  # a cancelled caller's token is dropped, never saved
                    waiter.set_result(None)
                    handed += 1
            if grant.granted < want:
                await asyncio.sleep(max(grant.wait, MIN_WAIT_S))

    async def _wait_unlimited(self) -> None:
        now = time.monotonic()
        if now - self._checked_at >= UNLIMITED_CHECK_S:
            self._checked_at = now
            blocked = await self._store.blocked_for(self._name)
            if blocked > 0:
                self._blocked_until = max(self._blocked_until, now + blocked)
        remaining = self._blocked_until - time.monotonic()
        if remaining > 0:
            await asyncio.sleep(remaining)

    def penalize(self, retry_after: float | None = None) -> None:
        """The app answered 429: this process stops at once for Retry-After, and the shared
        row (written in the background) slows every process down."""
        if retry_after is not None and retry_after > 0:
            self._blocked_until = max(self._blocked_until, time.monotonic() + retry_after)
        task = asyncio.get_running_loop().create_task(self._penalize(retry_after))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _penalize(self, retry_after: float | None) -> None:
        try:
            await self._store.penalize(
                self._name,
                retry_after=retry_after,
                burst=max(self._burst, 1),
                max_level=self._max_level,
                cooldown=self.cooldown,
            )
        except Exception as exc:
            log.warning("could not share a 429 cool-down", bucket=self._name, error=str(exc))

    async def aclose(self) -> None:
        await cancel_and_wait(
            *(t for t in [self._pump, *self._tasks] if t is not None and not t.done())
        )
