"""The mutable fault settings a sandbox applies to its API routes and webhook deliveries."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

GATEWAY_STATUSES = (500, 502, 503)


class FaultSettingsError(ValueError):
    """A fault setting has an unknown name or an invalid value."""


@dataclass
class Faults:
    """What goes wrong, and how often. Rates are probabilities: 0 never, 1.0 always."""

    latency_ms: int = 0
    error_rate: float = 0.0
    error_status: int = 503
    timeout_rate: float = 0.0
    timeout_seconds: float = 30.0
    lost_response_rate: float = 0.0
    rate_limit: float = 0.0
    retry_after: int | None = None
    webhook_duplicate_rate: float = 0.0
    webhook_shuffle: bool = False
    webhook_failure_rate: float = 0.0
    seed: int | None = None
    # Derived state, rebuilt by every change of the settings above.
    rng: random.Random = field(init=False, repr=False, compare=False)
    bucket: TokenBucket | None = field(init=False, repr=False, compare=False)
    active: bool = field(init=False, repr=False, compare=False)
    _baseline: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        values = self.to_dict()
        self._apply(values)
        self._baseline = values

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in setting_names()}

    def update(self, changes: Mapping[str, Any]) -> None:
        """Merge validated `changes` into the settings; nothing changes if any value is bad.

        Any change reseeds the dice (from `seed`) and refills the rate-limit bucket.
        """
        merged = self.to_dict()
        for name, value in changes.items():
            if name not in merged:
                raise FaultSettingsError(f"unknown fault setting {name!r}")
            merged[name] = _validated(name, value)
        self._apply(merged)

    def clear(self) -> None:
        """Back to the settings the sandbox started with (its CLI flags)."""
        self._apply(dict(self._baseline))

    def roll(self, rate: float) -> bool:
        return rate >= 1.0 or (rate > 0.0 and self.rng.random() < rate)

    def _apply(self, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            setattr(self, name, _validated(name, value))
        self.rng = random.Random(self.seed)
        self.bucket = TokenBucket(self.rate_limit) if self.rate_limit > 0 else None
        self.active = bool(
            self.latency_ms
            or self.error_rate
            or self.timeout_rate
            or self.lost_response_rate
            or self.rate_limit
        )


_SETTINGS = tuple(f.name for f in fields(Faults) if f.init)


def setting_names() -> tuple[str, ...]:
    return _SETTINGS


_RATES = {
    "error_rate",
    "timeout_rate",
    "lost_response_rate",
    "webhook_duplicate_rate",
    "webhook_failure_rate",
}


def _validated(name: str, value: Any) -> Any:
    if name in _RATES:
        rate = _number(name, value)
        if not 0.0 <= rate <= 1.0:
            raise FaultSettingsError(f"{name} must be between 0 and 1")
        return rate
    if name == "latency_ms":
        return int(_non_negative(name, value))
    if name in ("timeout_seconds", "rate_limit"):
        return _non_negative(name, value)
    if name == "error_status":
        if value not in GATEWAY_STATUSES or isinstance(value, bool):
            raise FaultSettingsError(f"error_status must be one of {GATEWAY_STATUSES}")
        return int(value)
    if name in ("retry_after", "seed"):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise FaultSettingsError(f"{name} must be an integer or null")
        return value
    if name == "webhook_shuffle":
        if not isinstance(value, bool):
            raise FaultSettingsError("webhook_shuffle must be true or false")
        return value
    raise FaultSettingsError(f"unknown fault setting {name!r}")


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultSettingsError(f"{name} must be a number")
    return float(value)


def _non_negative(name: str, value: Any) -> float:
    number = _number(name, value)
    if number < 0:
        raise FaultSettingsError(f"{name} must not be negative")
    return number


class TokenBucket:
    """`rate` tokens per second, holding at most max(1, rate) of them."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._tokens = self.capacity
        self._stamp = time.monotonic()

    def take(self) -> float:
        """Take a token: 0.0 when allowed, else the seconds until one is available."""
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate
