"""DomainLimiter: adaptive rate on 429s, advisory headers only lower it, runtime changes."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from producer.ratelimit import DomainLimiter
from producer.telemetry.metrics import Metrics


class _Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, tz=UTC)

    async def sleep(self, seconds: float) -> None:
        self.t += seconds


def _limiter(per_minute: float = 240) -> tuple[DomainLimiter, _Clock, CollectorRegistry]:
    clock = _Clock()
    registry = CollectorRegistry()
    limiter = DomainLimiter(
        per_minute=per_minute,
        priority="high",
        clock=clock,
        metrics=Metrics(registry).for_domain("telephony"),
    )
    return limiter, clock, registry


def test_throttling_halves_the_rate_down_to_a_floor() -> None:
    """Each 429 halves the effective rate, never below a tenth of the quota."""
    limiter, _, registry = _limiter(240)
    limiter.throttled()
    assert limiter.effective_per_minute == 120
    for _ in range(10):
        limiter.throttled()
    assert limiter.effective_per_minute == 24
    quota = registry.get_sample_value("mesh_ratelimit_quota_per_minute", {"domain": "telephony"})
    assert quota == 24


async def test_rate_recovers_slowly_without_throttling() -> None:
    """A minute without a 429 gives back a tenth of the quota per step, up to the quota."""
    limiter, clock, _ = _limiter(200)
    limiter.throttled()
    assert limiter.effective_per_minute == 100
    clock.t += 30
    await limiter.acquire()
    assert limiter.effective_per_minute == 100
    clock.t += 31
    await limiter.acquire()
    assert limiter.effective_per_minute == 120
    for _ in range(10):
        clock.t += 61
        await limiter.acquire()
    assert limiter.effective_per_minute == 200


def test_advisory_headers_only_lower_the_rate() -> None:
    """inin-ratelimit-allowed below the quota lowers it; above it changes nothing."""
    limiter, _, _ = _limiter(240)
    limiter.advise({"inin-ratelimit-allowed": "1000", "inin-ratelimit-reset": "30"})
    assert limiter.effective_per_minute == 240
    limiter.advise({"inin-ratelimit-allowed": "180", "inin-ratelimit-reset": "61"})
    assert limiter.effective_per_minute == 162


def test_nonsense_advisory_headers_are_ignored() -> None:
    """Zero, negative, huge or non-numeric values are not trusted."""
    limiter, _, _ = _limiter(240)
    for allowed in ("0", "-5", "abc", "9999999", ""):
        limiter.advise({"inin-ratelimit-allowed": allowed})
    limiter.advise({"inin-ratelimit-allowed": "100", "inin-ratelimit-reset": "99999"})
    limiter.advise({})
    assert limiter.effective_per_minute == 240


async def test_pause_holds_requests_until_retry_after() -> None:
    """After pause(s), acquire returns no earlier than s seconds later."""
    limiter, clock, _ = _limiter(240)
    start = clock.t
    limiter.pause(7.5)
    await limiter.acquire()
    assert clock.t - start >= 7.5


def test_runtime_quota_and_priority_change() -> None:
    """set_quota changes the configured quota (resetting advice) and the priority."""
    limiter, _, _ = _limiter(240)
    limiter.advise({"inin-ratelimit-allowed": "100"})
    limiter.set_quota(per_minute=60, priority="low")
    assert limiter.per_minute == 60
    assert limiter.effective_per_minute == 60
    assert limiter.priority == "low"
