"""The cluster-wide rate limit on PostgreSQL: two "processes" (each its own Database, store
and RateLimiters on one schema) share one connection's budget, its 429 cool-down, and
batch their round trips."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from billsync.engine.ratelimit import RateLimiters
from billsync.store.database import Database
from billsync.store.rate_limits import RateLimitStore

pytestmark = pytest.mark.postgres


@pytest.fixture
async def processes(db: Database) -> AsyncIterator[tuple[RateLimiters, RateLimiters]]:
    """Two processes' limiters on the test schema, each on its own engine."""
    other = Database(db.url)
    first = RateLimiters(store=RateLimitStore(db))
    second = RateLimiters(store=RateLimitStore(other))
    try:
        yield first, second
    finally:
        await first.aclose()
        await second.aclose()
        await other.dispose()


def _max_in_any_window(stamps: list[float], rate: float, burst: int) -> float:
    """How far the worst window exceeds burst + rate * its length (<= 0: within the limit)."""
    stamps = sorted(stamps)
    worst = float("-inf")
    for i, start in enumerate(stamps):
        for j in range(i, len(stamps)):
            worst = max(worst, (j - i + 1) - (burst + rate * (stamps[j] - start)))
    return worst


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
async def test_two_processes_together_stay_within_one_limit(
    processes: tuple[RateLimiters, RateLimiters],
) -> None:
    rate, burst = 20.0, 3
    stamps: list[float] = []

    async def caller(limiters: RateLimiters, until: float) -> None:
        bucket = limiters.get("7", rate, burst)
        while time.monotonic() < until:
            await bucket.acquire()
            stamps.append(time.monotonic())

    until = time.monotonic() + 2.0
    started = time.monotonic()
    await asyncio.gather(*(caller(limiters, until) for limiters in processes for _ in range(6)))
    elapsed = stamps[-1] - started
    # Each process alone would have taken burst + rate * elapsed; together they take it once.
    assert len(stamps) <= burst + rate * elapsed + 1
    # ... and the budget is used, not wasted on the way (loosely: a loaded machine delays
    # the round trips, and a bucket that is full while nobody asks saves nothing more).
    assert len(stamps) >= 0.5 * rate * elapsed
    # The stamps are taken when a caller resumes, a moment after its grant; a preempted
    # process can bunch a few of them: two tokens of slack.
    assert _max_in_any_window(stamps, rate, burst) <= 2.0


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
async def test_a_429_in_one_process_blocks_and_slows_the_other(
    processes: tuple[RateLimiters, RateLimiters],
) -> None:
    first, second = processes
    rate = 40.0
    a, b = first.get("9", rate, 2), second.get("9", rate, 2)
    await a.acquire()
    await b.acquire()
    a.penalize(retry_after=1.0)
    await asyncio.sleep(0.05)  # the shared row is written in the background
    started = time.monotonic()
    await b.acquire()
    # The other process waited out the Retry-After it never saw itself...
    assert time.monotonic() - started >= 0.9
    # ... and runs at the halved rate afterwards.
    assert b.current_rate() == pytest.approx(rate / 2)


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
async def test_busy_callers_share_round_trips(db: Database) -> None:
    store = RateLimitStore(db)
    limiters = RateLimiters(store=store)
    try:
        bucket = limiters.get("11", 2000.0, 200)
        done = 0

        async def caller() -> None:
            nonlocal done
            for _ in range(25):
                await bucket.acquire()
                done += 1

        await asyncio.gather(*(caller() for _ in range(32)))
        assert done == 800
        # 32 callers waiting together take their tokens in batches, not one statement each.
        assert store.statements < done / 4
    finally:
        await limiters.aclose()


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
async def test_unlimited_connection_takes_no_tokens(db: Database) -> None:
    store = RateLimitStore(db)
    limiters = RateLimiters(store=store)
    try:
        bucket = limiters.get("12", 0.0)
        for _ in range(50):
            await bucket.acquire()
        # One look at the shared Retry-After block per second, nothing per request.
        assert store.statements <= 2
    finally:
        await limiters.aclose()
