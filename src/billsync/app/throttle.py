"""Throttling of token guesses: refused admin tokens per client address in a sliding window.

Both faces that take an admin token use one: the UI login (web/login.py) and the API's
bearer check (api/auth.py). After `max_failures` refused tokens from one address within
WINDOW seconds (BILLSYNC_AUTH_FAILURES, 5 by default), that address waits until the oldest
failure leaves the window: its requests are answered 429 with Retry-After and the token is
not even checked, so guessing stays slow and a flood costs no database read and no log
line per request. A valid token from that address waits too (as GitHub's API does): the
throttle cannot tell a client from a guesser without checking the token.

Admin tokens are 256-bit random, so this is about noise, log volume and database load as
much as guessing. It is per process and in memory (a restart forgets it): with N `serve`
processes behind a load balancer an address gets up to N × max_failures tries per window.
Kept in the database it would put a write on the path of every refused request, the very
flood it is meant to absorb, and the bound stays a small multiple either way.

The address is the one the server sees: behind a reverse proxy, run uvicorn with
`--proxy-headers`/`--forwarded-allow-ips` so it is the client's.
"""

from __future__ import annotations

import time
from collections import deque

MAX_FAILURES = 5
WINDOW = 300.0
#: Addresses remembered at most (the oldest are dropped first): bounded memory.
MAX_ADDRESSES = 10_000


class FailureThrottle:
    def __init__(self, *, max_failures: int = MAX_FAILURES, window: float = WINDOW) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.get(address)
        if times is None:
            return deque()
        while times and now - times[0] > self.window:
            times.popleft()
        if not times:
            del self._failures[address]
        return times

    def retry_after(self, address: str, *, now: float | None = None) -> int:
        """Seconds until `address` may try again; 0 when it may now."""
        current = time.monotonic() if now is None else now
        times = self._recent(address, current)
        if len(times) < self.max_failures:
            return 0
        return max(1, int(self.window - (current - times[0])) + 1)

    def failed(self, address: str, *, now: float | None = None) -> None:
        current = time.monotonic() if now is None else now
        times = self._failures.setdefault(address, deque())
        times.append(current)
        while len(times) > self.max_failures:
            times.popleft()
        if len(self._failures) > MAX_ADDRESSES:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)
