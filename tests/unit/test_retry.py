"""The retry policy: Retry-After is honoured exactly, backoff is capped, budgets end retries."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from producer.api.retry import RetryPolicy, parse_retry_after


def test_retry_after_forms() -> None:
    """Delta-seconds and HTTP dates parse; junk and absence give None; never negative."""
    assert parse_retry_after("23") == 23.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now_unix=1445412470.0) == 10.0


@given(retry_after=st.floats(min_value=0, max_value=600), attempt=st.integers(1, 20))
def test_server_retry_after_is_never_shortened(retry_after: float, attempt: int) -> None:
    """Whatever the attempt, the delay is at least what the server asked for."""
    policy = RetryPolicy(rng=random.Random(1))
    assert policy.delay(attempt, retry_after, throttled=True) >= retry_after
    assert policy.delay(attempt, retry_after) >= retry_after


def test_throttle_without_retry_after_waits_three_seconds() -> None:
    """A 429 without Retry-After waits the platform SDK's 3 s (plus jitter)."""
    policy = RetryPolicy(rng=random.Random(2))
    assert 3.0 <= policy.delay(1, None, throttled=True) <= 3.5


@given(attempt=st.integers(1, 60))
def test_backoff_is_capped(attempt: int) -> None:
    """Exponential backoff never exceeds its cap."""
    policy = RetryPolicy(base_s=0.5, cap_s=30.0, rng=random.Random(3))
    assert 0 < policy.delay(attempt, None) <= 30.0


def test_budget() -> None:
    """A request is given up when the next wait would pass its budget."""
    policy = RetryPolicy(budget_s=10.0)
    assert not policy.exhausted(5.0, 4.9)
    assert policy.exhausted(5.0, 5.1)
