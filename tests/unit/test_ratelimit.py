"""DomainLimiter: Retry-After pauses, a gentle adaptive rate, advisory bounds, runtime changes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
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
        await asyncio.sleep(0)  # let others run, as a real wait would
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


async def _throttled_then_paused(
    limiter: DomainLimiter, clock: _Clock, retry_after: float | None, sent: int
) -> None:
    """``sent`` requests, then a 429 and the pause the client takes (3 s without Retry-After)."""
    for _ in range(sent):
        await limiter.acquire()
    limiter.throttled(retry_after)
    limiter.pause(3.0 if retry_after is None else retry_after)


async def test_429s_with_retry_after_do_not_lower_the_rate() -> None:
    """A steady share of 429s with Retry-After (every 6th request): the pauses are the answer."""
    limiter, clock, registry = _limiter(240)
    for _ in range(30):
        await _throttled_then_paused(limiter, clock, 2.0, sent=5)
        assert limiter.effective_per_minute == 240
    before = clock.t
    await limiter.acquire()
    assert clock.t - before >= 2.0  # the last pause was honoured
    quota = registry.get_sample_value("mesh_ratelimit_quota_per_minute", {"domain": "telephony"})
    assert quota == 240


async def test_429s_right_after_a_pause_lower_the_rate_gently() -> None:
    """The first request after a pause refused again: the platform grants less; x0.7, to a floor."""
    limiter, clock, registry = _limiter(240)
    await _throttled_then_paused(limiter, clock, 1.0, sent=1)
    assert limiter.effective_per_minute == 240  # the first one is only a pause
    await _throttled_then_paused(limiter, clock, 1.0, sent=1)
    assert limiter.effective_per_minute == pytest.approx(168)
    await _throttled_then_paused(limiter, clock, 1.0, sent=1)
    assert limiter.effective_per_minute == pytest.approx(117.6)
    await _throttled_then_paused(limiter, clock, 1.0, sent=2)  # every 2nd call: a pause only
    assert limiter.effective_per_minute == pytest.approx(117.6)
    for _ in range(20):
        await _throttled_then_paused(limiter, clock, 1.0, sent=1)
    assert limiter.effective_per_minute == pytest.approx(24)
    quota = registry.get_sample_value("mesh_ratelimit_quota_per_minute", {"domain": "telephony"})
    assert quota == pytest.approx(24)


async def test_429s_without_retry_after_lower_the_rate() -> None:
    """No Retry-After: nothing says how long to wait, so the rate goes down (x0.7 each)."""
    limiter, clock, _ = _limiter(200)
    await _throttled_then_paused(limiter, clock, None, sent=10)
    assert limiter.effective_per_minute == pytest.approx(140)
    await _throttled_then_paused(limiter, clock, None, sent=10)
    assert limiter.effective_per_minute == pytest.approx(98)


async def test_rate_recovers_within_seconds_once_429s_stop() -> None:
    """Each 5 s without a rate-lowering 429 gives back a tenth of the quota, up to the quota."""
    limiter, clock, _ = _limiter(200)
    limiter.throttled(None)
    assert limiter.effective_per_minute == pytest.approx(140)
    clock.t += 4.9
    assert limiter.effective_per_minute == pytest.approx(140)
    clock.t += 0.2
    assert limiter.effective_per_minute == pytest.approx(160)
    for _ in range(20):
        limiter.throttled(None)
    assert limiter.effective_per_minute == pytest.approx(20)  # the floor, a tenth
    clock.t += 46.0
    assert limiter.effective_per_minute == pytest.approx(200)


async def test_requests_follow_the_rate_in_force() -> None:
    """Measured on the injected clock: the quota's pace, a lowered pace, then the quota again."""
    limiter, clock, _ = _limiter(240)  # 4 a second, a burst of 20

    async def sent_per_minute(n: int) -> float:
        start = clock.t
        for _ in range(n):
            await limiter.acquire()
        return n / (clock.t - start) * 60.0

    async def burst() -> None:
        start = clock.t
        while clock.t == start:
            await limiter.acquire()

    await burst()  # the slots saved (20 at first) go at once
    assert await sent_per_minute(40) == pytest.approx(240, rel=0.02)
    for _ in range(3):
        limiter.throttled(None)
    assert limiter.effective_per_minute == pytest.approx(82.32)
    assert await sent_per_minute(6) == pytest.approx(82.32, rel=0.05)  # no burst on a change
    clock.t += 60.0
    await burst()
    assert limiter.effective_per_minute == 240
    assert await sent_per_minute(40) == pytest.approx(240, rel=0.02)


async def test_a_pause_that_arrives_while_queued_is_honoured() -> None:
    """A request waiting for a quota slot when a 429 pauses the domain waits out the pause."""
    limiter, clock, _ = _limiter(240)
    for _ in range(20):
        await limiter.acquire()  # the burst is spent: the next one queues for a slot
    queued = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    paused_at = clock.t
    limiter.pause(5.0)
    await queued
    assert clock.t >= paused_at + 5.0


def test_advisory_headers_only_lower_the_rate() -> None:
    """inin-ratelimit-allowed below the quota lowers it; above it changes nothing."""
    limiter, _, _ = _limiter(240)
    limiter.advise({"inin-ratelimit-allowed": "1000", "inin-ratelimit-reset": "30"})
    assert limiter.effective_per_minute == 240
    limiter.advise({"inin-ratelimit-allowed": "180", "inin-ratelimit-reset": "61"})
    assert limiter.effective_per_minute == 162


def test_advisory_headers_do_not_pin_the_rate_low() -> None:
    """A later, larger allowance lifts the bound; an unrepeated one lapses after its reset."""
    limiter, clock, _ = _limiter(240)
    limiter.advise({"inin-ratelimit-allowed": "100", "inin-ratelimit-reset": "30"})
    assert limiter.effective_per_minute == 90
    limiter.advise({"inin-ratelimit-allowed": "300", "inin-ratelimit-reset": "30"})
    assert limiter.effective_per_minute == 240
    limiter.advise({"inin-ratelimit-allowed": "100", "inin-ratelimit-reset": "30"})
    clock.t += 29.0
    assert limiter.effective_per_minute == 90
    clock.t += 1.0
    assert limiter.effective_per_minute == 240


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
