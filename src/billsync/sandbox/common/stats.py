"""Request counters per route template and status, for GET /_sandbox/stats."""

from __future__ import annotations

from collections import defaultdict

LOST = "lost"


class Stats:
    def __init__(self) -> None:
        self._requests: defaultdict[str, defaultdict[str, int]] = defaultdict(
            lambda: defaultdict(int)
        )

    def record(self, method: str, route: str, status: int | str) -> None:
        self._requests[f"{method} {route}"][str(status)] += 1

    def requests(self) -> dict[str, dict[str, int]]:
        return {key: dict(counts) for key, counts in sorted(self._requests.items())}

    def total(self) -> int:
        return sum(sum(counts.values()) for counts in self._requests.values())

    def reset(self) -> None:
        self._requests.clear()
