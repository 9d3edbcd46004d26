"""What happens after a failed attempt: retry later, fail, give up (dead) or skip.

A pure decision from the error class and the attempt number; the runner applies it.
Backoff is exponential with full jitter (AWS architecture blog, "Exponential Backoff And
Jitter"): delay ~ U(0, min(cap, base * 2**(attempt-1))), so workers that failed together
do not retry together. A Retry-After hint is a floor, never shortened by jitter.

    error                          decision
    RateLimitedError(retry_after)  retry after max(retry_after, backoff) → dead when exhausted
    other RetryableError           retry after backoff                   → dead when exhausted
    PermanentError                 fail at once
    SkipEventError                 skip (the step is irrelevant for this event)
    other SyncError                fail at once (deterministic, e.g. a broken flow)
    any other exception            our bug: retry as a system error      → dead when exhausted
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field

from billsync import errors


class RetryKind(enum.StrEnum):
    RETRY = "retry"  #: schedule another attempt after `delay`
    FAIL = "fail"  #: permanent: the run fails now
    DEAD = "dead"  #: retryable, but the attempts are used up
    SKIP = "skip"  #: the step does not apply to this event


@dataclass(frozen=True)
class RetryDecision:
    kind: RetryKind
    delay: float = 0.0  #: seconds until the next attempt (RETRY only)
    reason: str = ""  #: safe to show: never contains secrets or raw upstream bodies
    system: bool = False  #: an unexpected exception (our bug), not an app's answer


@dataclass
class RetryPolicy:
    max_attempts: int = 10
    base: float = 1.0  #: seconds; the first retry waits up to this long
    cap: float = 300.0  #: seconds; no computed backoff exceeds it
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base < 0 or self.cap < 0:
            raise ValueError("base and cap must not be negative")

    def ceiling(self, attempt: int) -> float:
        """The largest backoff after failed attempt number `attempt` (1-based)."""
        # min() before the power would overflow for large attempts: compare exponents.
        exponent = max(attempt - 1, 0)
        if exponent >= 64:
            return self.cap
        return min(self.cap, self.base * 2.0**exponent)

    def backoff(self, attempt: int) -> float:
        return self.rng.uniform(0.0, self.ceiling(attempt))

    def decide(self, error: Exception, attempt: int) -> RetryDecision:
        """Decide after attempt number `attempt` (1-based) failed with `error`."""
        if isinstance(error, errors.SkipEventError):
            return RetryDecision(RetryKind.SKIP, reason=error.message)
        if isinstance(error, errors.PermanentError):
            return RetryDecision(RetryKind.FAIL, reason=_describe(error))
        if isinstance(error, errors.RetryableError):
            return self._again(error, attempt, _describe(error), system=False)
        if isinstance(error, errors.SyncError):
            return RetryDecision(RetryKind.FAIL, reason=_describe(error))
        # The message of an arbitrary exception may hold anything (payloads, URLs with
        # keys): only its type is shown; the runner logs the traceback.
        reason = f"internal error ({type(error).__name__}); see the service logs"
        return self._again(error, attempt, reason, system=True)

    def _again(self, error: Exception, attempt: int, reason: str, *, system: bool) -> RetryDecision:
        if attempt >= self.max_attempts:
            return RetryDecision(
                RetryKind.DEAD,
                reason=f"{reason} (gave up after {attempt} attempts)",
                system=system,
            )
        delay = self.backoff(attempt)
        if isinstance(error, errors.RateLimitedError) and error.retry_after is not None:
            delay = max(float(error.retry_after), delay)
        return RetryDecision(RetryKind.RETRY, delay=delay, reason=reason, system=system)


def _describe(error: errors.SyncError) -> str:
    return f"{type(error).__name__}: {error.message}"
