"""RetryPolicy.decide: the decision table, backoff bounds and Retry-After."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billsync import errors
from billsync.engine.retry import RetryDecision, RetryKind, RetryPolicy


def _policy(seed: int = 0, base: float = 1.0, cap: float = 300.0) -> RetryPolicy:
    return RetryPolicy(base=base, cap=cap, rng=random.Random(seed))


@pytest.mark.parametrize(
    ("error", "attempt", "kind"),
    [
        (errors.UnavailableError("down"), 1, RetryKind.RETRY),
        (errors.UnavailableError("down", ambiguous=True), 9, RetryKind.RETRY),
        (errors.UnavailableError("down"), 10, RetryKind.DEAD),
        (errors.RateLimitedError("slow", retry_after=3), 1, RetryKind.RETRY),
        (errors.RateLimitedError("slow"), 10, RetryKind.DEAD),
        (errors.DependencyNotReadyError("account not synced"), 2, RetryKind.RETRY),
        (errors.DependencyNotReadyError("account not synced"), 11, RetryKind.DEAD),
        (errors.AuthError("bad key"), 1, RetryKind.FAIL),
        (errors.NotFoundError("gone"), 1, RetryKind.FAIL),
        (errors.RejectedError("bad field", field="amount"), 1, RetryKind.FAIL),
        (errors.MappingError("conflict"), 1, RetryKind.FAIL),
        (errors.SkipEventError("not ours"), 1, RetryKind.SKIP),
        (errors.SkipEventError("not ours"), 10, RetryKind.SKIP),
        (errors.FlowError("broken", field="steps"), 1, RetryKind.FAIL),
        (errors.ConfigError("bad"), 1, RetryKind.FAIL),
        (KeyError("bug"), 1, RetryKind.RETRY),
        (KeyError("bug"), 10, RetryKind.DEAD),
    ],
)
def test_decision_table(error: Exception, attempt: int, kind: RetryKind) -> None:
    decision = _policy().decide(error, attempt)
    assert decision.kind is kind
    if kind is not RetryKind.RETRY:
        assert decision.delay == 0.0


def test_unknown_exceptions_are_system_errors_without_their_message() -> None:
    decision = _policy().decide(ValueError("key=sk_live_secret"), 1)
    assert decision.system
    assert "ValueError" in decision.reason
    assert "sk_live_secret" not in decision.reason
    dead = _policy().decide(ValueError("x"), 10)
    assert dead.system and "gave up after 10 attempts" in dead.reason


def test_reason_names_the_error() -> None:
    decision = _policy().decide(errors.AuthError("check the key"), 1)
    assert decision == RetryDecision(RetryKind.FAIL, reason="AuthError: check the key")
    assert not decision.system


def test_skip_reason_is_the_message() -> None:
    assert _policy().decide(errors.SkipEventError("paid already"), 1).reason == "paid already"


def test_decision_is_frozen() -> None:
    decision = _policy().decide(errors.UnavailableError(), 1)
    with pytest.raises(AttributeError):
        decision.delay = 0  # type: ignore[misc]


def test_retry_after_is_a_floor_even_above_the_cap() -> None:
    decision = _policy(cap=5.0).decide(errors.RateLimitedError(retry_after=60.0), 1)
    assert decision.delay == 60.0


def test_ceiling_doubles_then_caps() -> None:
    policy = _policy(base=1.0, cap=300.0)
    assert [policy.ceiling(a) for a in (1, 2, 3, 9, 10, 500)] == [1, 2, 4, 256, 300, 300]


def test_jitter_comes_from_the_injected_rng() -> None:
    a = [_policy(seed=7).decide(errors.UnavailableError(), 5).delay for _ in range(2)]
    assert a[0] == a[1]


def test_invalid_policies() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(base=-1)


@given(
    attempt=st.integers(min_value=1, max_value=1000),
    max_attempts=st.integers(min_value=1, max_value=50),
    base=st.floats(min_value=0.0, max_value=10.0),
    cap=st.floats(min_value=0.0, max_value=3600.0),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_backoff_bounds(
    attempt: int, max_attempts: int, base: float, cap: float, seed: int
) -> None:
    policy = RetryPolicy(max_attempts=max_attempts, base=base, cap=cap, rng=random.Random(seed))
    decision = policy.decide(errors.UnavailableError(), attempt)
    if attempt >= max_attempts:
        assert decision.kind is RetryKind.DEAD
        return
    assert decision.kind is RetryKind.RETRY
    assert 0.0 <= decision.delay <= min(cap, base * 2.0 ** min(attempt - 1, 64))
    assert decision.delay <= cap


@given(
    attempt=st.integers(min_value=1, max_value=9),
    retry_after=st.floats(min_value=0.0, max_value=86400.0),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_rate_limited_waits_at_least_retry_after(
    attempt: int, retry_after: float, seed: int
) -> None:
    policy = RetryPolicy(rng=random.Random(seed))
    decision = policy.decide(errors.RateLimitedError(retry_after=retry_after), attempt)
    assert decision.kind is RetryKind.RETRY
    assert decision.delay >= retry_after
    assert decision.delay <= max(retry_after, policy.ceiling(attempt))


@given(seed=st.integers(min_value=0, max_value=2**32))
def test_jitter_spreads_delays(seed: int) -> None:
    policy = RetryPolicy(rng=random.Random(seed))
    delays = {policy.decide(errors.UnavailableError(), 8).delay for _ in range(20)}
    assert len(delays) > 1
