"""Step 2b (limit): a domain's own request quota, and pauses the platform asks for.

``DomainLimiter`` wraps an aiolimiter leaky bucket sized so that no 60-second window ever sees
more than ~13/12 of the quota (capacity = quota/12, refilled over 5 s), plus a ``not_before``
instant pushed by 429 ``Retry-After``: no request of the domain is sent before it. Cancellation
safe: a cancelled waiter holds no capacity (aiolimiter drops it). Does no HTTP itself.
"""

from __future__ import annotations

from aiolimiter import AsyncLimiter

from producer.clock import Clock
from producer.telemetry.metrics import DomainMetrics

__all__ = ["DomainLimiter"]

_REFILL_PERIOD_S = 5.0


class DomainLimiter:
    """The request gate of one domain: quota per minute and server-requested pauses."""

    def __init__(self, *, per_minute: float, clock: Clock, metrics: DomainMetrics) -> None:
        self._clock = clock
        self._metrics = metrics
        self._not_before = 0.0
        self._bucket = self._make_bucket(per_minute)
        self._per_minute = per_minute
        metrics.quota(per_minute)

    @staticmethod
    def _make_bucket(per_minute: float) -> AsyncLimiter:
        capacity = max(1.0, per_minute * _REFILL_PERIOD_S / 60.0)
        return AsyncLimiter(capacity, _REFILL_PERIOD_S)

    @property
    def per_minute(self) -> float:
        return self._per_minute

    def set_rate(self, per_minute: float) -> None:
        """Change the quota; requests already waiting finish on the old bucket."""
        self._bucket = self._make_bucket(per_minute)
        self._per_minute = per_minute
        self._metrics.quota(per_minute)

    def pause(self, seconds: float) -> None:
        """No request of this domain goes out for ``seconds`` (a 429's Retry-After)."""
        self._not_before = max(self._not_before, self._clock.monotonic() + seconds)

    async def acquire(self) -> None:
        """Wait until a request may be sent: after any pause, then a quota slot."""
        started = self._clock.monotonic()
        while (remaining := self._not_before - self._clock.monotonic()) > 0:
            await self._clock.sleep(remaining)
        await self._bucket.acquire()
        self._metrics.limiter_waited(self._clock.monotonic() - started)
