"""Token buckets on a fake clock: pacing, bursts, 429 penalties and recovery."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from billsync.engine import ratelimit
from billsync.engine.clients import PacedTransport
from billsync.engine.ratelimit import RateLimiters, TokenBucket


class FakeClock:
    """Time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def _bucket(clock: FakeClock, rate: float, burst: int | None = None) -> TokenBucket:
    return TokenBucket(rate, burst, clock=clock, sleep=clock.sleep, cooldown=30.0)


async def _times(clock: FakeClock, bucket: TokenBucket, n: int) -> list[float]:
    out = []
    for _ in range(n):
        await bucket.acquire()
        out.append(round(clock.now - 1000.0, 6))
    return out


async def test_burst_then_paced_at_the_rate() -> None:
    clock = FakeClock()
    bucket = _bucket(clock, rate=10, burst=3)
    assert await _times(clock, bucket, 5) == [0, 0, 0, 0.1, 0.2]


async def test_default_burst_is_half_a_second_of_rate() -> None:
    clock = FakeClock()
    bucket = _bucket(clock, rate=ratelimit.TOGAI_DEFAULT_RATE_PER_S)
    assert bucket.burst == 5
    times = await _times(clock, bucket, 6)
    assert times[:5] == [0] * 5 and times[5] == 0.1
    assert _bucket(clock, rate=1).burst == 1


async def test_idle_time_refills_up_to_the_burst_only() -> None:
    clock = FakeClock()
    bucket = _bucket(clock, rate=1, burst=2)
    await _times(clock, bucket, 2)
    clock.now += 100
    assert await _times(clock, bucket, 3) == [100, 100, 101]


async def test_rate_zero_is_unlimited() -> None:
    clock = FakeClock()
    bucket = _bucket(clock, rate=ratelimit.UNLIMITED)
    assert await _times(clock, bucket, 50) == [0] * 50
    assert clock.sleeps == []


async def test_penalize_honours_retry_after_and_halves_the_rate() -> None:
    clock = FakeClock()
    bucket = _bucket(clock, rate=10, burst=1)
    await bucket.acquire()
    bucket.penalize(retry_after=2.0)
    assert bucket.current_rate() == 5.0
    # Blocked for 2 s, no tokens saved up meanwhile, then 5/s.
    assert await _times(clock, bucket, 3) == [2.2, 2.4, 2.6]


async def test_penalties_compound_down_to_a_floor_and_recover_per_cooldown() -> None:
    clock = FakeClock()
    bucket = _bucket(clock, rate=16)
    for _ in range(10):
        bucket.penalize()
    assert bucket.current_rate() == 16 / 2**ratelimit.MAX_PENALTY_LEVEL
    clock.now += 30
    assert bucket.current_rate() == 2.0
    clock.now += 60
    assert bucket.current_rate() == 8.0
    clock.now += 1000
    assert bucket.current_rate() == 16.0


async def test_penalize_without_retry_after_empties_the_bucket() -> None:
    clock = FakeClock()
    bucket = _bucket(clock, rate=10, burst=5)
    bucket.penalize(None)
    assert await _times(clock, bucket, 2) == [0.2, 0.4]


async def test_unlimited_bucket_still_honours_retry_after() -> None:
    clock = FakeClock()
    bucket = _bucket(clock, rate=0)
    bucket.penalize(retry_after=3)
    assert await _times(clock, bucket, 2) == [3, 3]


async def test_concurrent_waiters_are_served_in_order_at_the_rate() -> None:
    clock = FakeClock()
    bucket = _bucket(clock, rate=2, burst=1)
    order: list[tuple[int, float]] = []

    async def call(i: int) -> None:
        await bucket.acquire()
        order.append((i, round(clock.now - 1000.0, 6)))

    await asyncio.gather(*(call(i) for i in range(4)))
    assert order == [(0, 0), (1, 0.5), (2, 1.0), (3, 1.5)]


async def test_registry_shares_one_bucket_per_connection() -> None:
    clock = FakeClock()
    limiters = RateLimiters(clock=clock, sleep=clock.sleep)
    a = limiters.get("conn-a", 10)
    assert limiters.get("conn-a", 10) is a
    assert limiters.get("conn-b", 10) is not a
    await a.acquire()
    # Reconfigured in place: a connection edit keeps the bucket (and its state).
    assert limiters.get("conn-a", 2, burst=1) is a
    assert (a.configured_rate, a.burst) == (2.0, 1)
    limiters.forget("conn-a")
    assert limiters.get("conn-a", 2) is not a


async def test_processes_sharing_a_connection_each_pace_at_their_share() -> None:
    clock = FakeClock()
    limiters = RateLimiters(clock=clock, sleep=clock.sleep, share=0.5)
    bucket = limiters.get("conn-a", 20)
    assert (bucket.configured_rate, bucket.burst) == (10.0, 5)
    # The same configured rate keeps the bucket; unlimited stays unlimited.
    assert limiters.get("conn-a", 20) is bucket
    assert limiters.get("conn-b", 0).configured_rate == 0
    start = clock.now
    for _ in range(25):
        await bucket.acquire()
    # 5 saved up, then 20 more at 10/s: this process alone never exceeds half the limit.
    assert clock.now - start == pytest.approx(2.0, abs=0.01)


def test_invalid_limits() -> None:
    with pytest.raises(ValueError):
        TokenBucket(-1)
    with pytest.raises(ValueError):
        TokenBucket(5, 0)


@given(
    rate=st.integers(min_value=1, max_value=50),
    burst=st.integers(min_value=1, max_value=20),
    gaps=st.lists(st.floats(min_value=0.0, max_value=2.0), min_size=1, max_size=60),
)
def test_no_window_exceeds_burst_plus_rate(rate: int, burst: int, gaps: list[float]) -> None:
    clock = FakeClock()
    bucket = _bucket(clock, rate=rate, burst=burst)

    async def run() -> list[float]:
        times = []
        for gap in gaps:
            clock.now += gap
            await bucket.acquire()
            times.append(clock.now)
        return times

    times = asyncio.run(run())
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            assert j - i + 1 <= burst + rate * (times[j] - start) + 1e-6


async def test_every_request_through_a_paced_transport_takes_a_token() -> None:
    # An action may make several requests (a lookup, then a create): each one is paced.
    clock = FakeClock()
    bucket = _bucket(clock, rate=10, burst=1)
    sent: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(round(clock.now - 1000.0, 6))
        return httpx.Response(200, json={})

    transport = PacedTransport(httpx.MockTransport(answer), lambda: bucket)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        for _ in range(3):
            await client.get("/lookup")
            await client.post("/create")
    assert sent == [0, 0.1, 0.2, 0.3, 0.4, 0.5]
