"""Login throttling: failed logins per client address in a sliding window.

After MAX_FAILURES failed logins from one address within WINDOW seconds, that address may
not try again until the oldest failure leaves the window (the token is not even checked,
so guessing stays slow). Admin tokens are 256-bit random, so this is about noise and
log volume as much as guessing; it is per process and in memory (a restart forgets it).
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


class LoginThrottle:
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
