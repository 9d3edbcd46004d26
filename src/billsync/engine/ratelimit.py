"""Client-side rate limits: one token bucket per connection, shared by every flow using it.

`await bucket.acquire()` before each request to the app (engine/clients.PacedTransport does it
for every client billsync builds). After a 429, `bucket.penalize()`
empties the bucket, blocks until the server's Retry-After has passed and halves the rate;
each quiet `cooldown` period then doubles it back, until the configured rate is reached.
Time comes from injectable `clock`/`sleep`, so tests run on a fake clock.

On PostgreSQL the composition root gives RateLimiters the database's shared buckets
(`store`): every process then takes its tokens from one row per connection
(engine/shared_bucket.py), so the whole cluster stays within each connection's limit and a
429 seen by one process slows every process down. On SQLite each process keeps its own
buckets, paced at `share` (1/N) of the rate when N processes on the machine share them.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from billsync.engine.shared_bucket import SharedBucket
from billsync.store.models import Connection
from billsync.store.rate_limits import RateLimitStore

#: Togai's documented default limit (requests per second per API key).
TOGAI_DEFAULT_RATE_PER_S = 10.0
#: 0 means "do not limit" (Razorpay documents no fixed per-key rate).
UNLIMITED = 0.0
#: Seconds without a 429 before the rate doubles back towards the configured one. 30 s
#: turned one boundary collision into a third of a 20-second burst spent at half rate.
DEFAULT_COOLDOWN_S = 10.0
#: The rate never drops below configured / 2**MAX_PENALTY_LEVEL.
MAX_PENALTY_LEVEL = 4
_EPSILON = 1e-9
#: Share of a connection's limit the engine paces itself at. A client bucket exactly equal
#: to the provider's collides with it at the boundary (the two are never in phase, and
#: event-loop jitter bunches requests), and one 429 halves the rate for a cooldown: the
#: rate-limit burst measured 66 % of the limit used after such a collision, 93-102 % without.
PACING_HEADROOM = 0.95
#: Requests per second when a connection sets no rate limit (Togai documents 10/s per key;
#: Razorpay documents none, so only its 429s slow us down).
DEFAULT_RATES: Mapping[str, float] = {"togai": TOGAI_DEFAULT_RATE_PER_S}

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def paced(rate_per_s: float) -> float:
    """The rate to pace at for a provider limit of `rate_per_s` (0 stays unlimited)."""
    return rate_per_s * PACING_HEADROOM


def connection_rate(row: Connection) -> float:
    """Requests per second billsync sends toward the connection's app: its own limit or the
    app default, less the pacing headroom. Every user of a connection's shared bucket (runner,
    intake, poller, mapping rebuild) must pass this rate, or the bucket is reconfigured."""
    if row.rate_limit is not None:
        return paced(row.rate_limit)
    return paced(DEFAULT_RATES.get(row.app, UNLIMITED))


class Bucket(Protocol):
    """What a request waits on: a TokenBucket (one process) or a SharedBucket (cluster)."""

    @property
    def configured_rate(self) -> float: ...
    @property
    def burst(self) -> int: ...
    def configure(self, rate: float, burst: int | None = None) -> None: ...
    def current_rate(self) -> float: ...
    async def acquire(self) -> None: ...
    def penalize(self, retry_after: float | None = None) -> None: ...


class TokenBucket:
    """`rate` tokens per second, at most `burst` (default: half a second's worth) saved up;
    rate 0 is unlimited."""

    def __init__(
        self,
        rate: float,
        burst: int | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        cooldown: float = DEFAULT_COOLDOWN_S,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self.cooldown = cooldown
        self._rate, self._burst = _limits(rate, burst)
        self._tokens = float(self._burst)
        self._updated = clock()
        self._blocked_until = 0.0
        self._penalty_level = 0
        self._penalized_at = 0.0
        # FIFO: asyncio.Lock wakes waiters in order, so no caller starves.
        self._lock = asyncio.Lock()

    def configure(self, rate: float, burst: int | None = None) -> None:
        """Change the limits (a connection was edited) without losing the current state."""
        self._rate, self._burst = _limits(rate, burst)
        self._tokens = min(self._tokens, float(self._burst))

    @property
    def configured_rate(self) -> float:
        return self._rate

    @property
    def burst(self) -> int:
        return self._burst

    def current_rate(self) -> float:
        """The rate in force now, after any 429 penalty (0 = unlimited)."""
        return self._rate / (2.0 ** self._level(self._clock()))

    async def acquire(self) -> None:
        """Wait until a call may be made, then take one token."""
        async with self._lock:
            while True:
                now = self._clock()
                self._refill(now)
                if self._blocked_until - now > _EPSILON:
                    await self._sleep(self._blocked_until - now)
                    continue
                rate = self._rate / (2.0 ** self._level(now))
                if rate == 0:
                    return
                # Tolerance: elapsed-time arithmetic on floats can leave 0.9999999999 tokens,
                # and a wait of 1e-12 s may not move the clock at all.
                if self._tokens >= 1 - _EPSILON:
                    self._tokens = max(self._tokens - 1, 0.0)
                    return
                await self._sleep((1 - self._tokens) / rate)

    def penalize(self, retry_after: float | None = None) -> None:
        """Slow down after the app answered 429 (honouring its Retry-After, if any)."""
        now = self._clock()
        self._refill(now)
        self._penalty_level = min(self._level(now) + 1, MAX_PENALTY_LEVEL)
        self._penalized_at = now
        self._tokens = min(self._tokens, 0.0)
        if retry_after is not None and retry_after > 0:
            self._blocked_until = max(self._blocked_until, now + retry_after)

    def _level(self, now: float) -> int:
        if self._penalty_level == 0 or self.cooldown <= 0:
            return 0
        recovered = int((now - self._penalized_at) // self.cooldown)
        return max(0, self._penalty_level - recovered)

    def _refill(self, now: float) -> None:
        # No tokens accrue while blocked by Retry-After: otherwise a full burst would
        # hit the app the moment the block ends.
        elapsed = max(0.0, now - max(self._updated, self._blocked_until))
        self._updated = now
        rate = self._rate / (2.0 ** self._level(now))
        if rate == 0:
            self._tokens = float(self._burst)
            return
        self._tokens = min(float(self._burst), self._tokens + elapsed * rate)


def _limits(rate: float, burst: int | None) -> tuple[float, int]:
    if rate < 0:
        raise ValueError("rate must not be negative")
    # Half a second of rate by default: a full second's burst met the provider's bucket
    # head-on at the start of a burst (it had been dented by a verify call), a 429 at once.
    chosen = burst if burst is not None else max(1, math.ceil(rate / 2))
    if chosen < 1:
        raise ValueError("burst must be at least 1")
    return float(rate), chosen


@dataclass
class RateLimiters:
    """The buckets of one process, by connection id."""

    clock: Clock = time.monotonic
    sleep: Sleep = asyncio.sleep
    cooldown: float = DEFAULT_COOLDOWN_S
    #: This process's part of every connection's rate (1/N when N processes share them);
    #: unused with a shared `store`, where the row is the whole cluster's budget.
    share: float = 1.0
    #: PostgreSQL: buckets kept in the database for every process (None: in this process).
    store: RateLimitStore | None = None
    _buckets: dict[str, Bucket] = field(default_factory=dict)

    def get(self, connection_id: str, rate_per_s: float, burst: int | None = None) -> Bucket:
        """The connection's bucket, created on first use and reconfigured when limits change."""
        if self.store is None:
            rate_per_s *= self.share  # 0 (unlimited) stays 0
        bucket = self._buckets.get(connection_id)
        if bucket is None:
            bucket = self._new(connection_id, rate_per_s, burst)
            self._buckets[connection_id] = bucket
        elif bucket.configured_rate != rate_per_s or (burst is not None and bucket.burst != burst):
            bucket.configure(rate_per_s, burst)
        return bucket

    def _new(self, connection_id: str, rate_per_s: float, burst: int | None) -> Bucket:
        if self.store is None:
            return TokenBucket(
                rate_per_s, burst, clock=self.clock, sleep=self.sleep, cooldown=self.cooldown
            )
        rate, chosen = _limits(rate_per_s, burst)
        return _SharedTokenBucket(
            self.store,
            connection_id,
            rate,
            chosen,
            cooldown=self.cooldown,
            max_level=MAX_PENALTY_LEVEL,
        )

    def forget(self, connection_id: str) -> None:
        """Drop a deleted connection's bucket."""
        self._buckets.pop(connection_id, None)

    async def aclose(self) -> None:
        """Stop the shared buckets' background work and close their connection."""
        for bucket in list(self._buckets.values()):
            if isinstance(bucket, SharedBucket):
                await bucket.aclose()
        if self.store is not None:
            await self.store.aclose()


class _SharedTokenBucket(SharedBucket):
    """A SharedBucket whose limits follow TokenBucket's defaults (burst: half a second)."""

    def configure(self, rate: float, burst: int | None = None) -> None:
        super().configure(*_limits(rate, burst))
