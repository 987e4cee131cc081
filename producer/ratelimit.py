"""Step 2b (limit): a domain's own request quota, the pauses the platform asks for, and priority.

``DomainLimiter`` gates every request of one domain: first any pause a 429 pushed
(``Retry-After``), then the domain app's own aiolimiter bucket (capacity = quota/12, refilled over
5 s, so no 60-second window sees more than ~13/12 of the quota), then, when configured, the
org-wide ``PriorityBudget`` shared with the other domains. The rate adapts: a 429 halves it (down
to a tenth of the quota), each minute without one gives back a tenth. ``inin-ratelimit-*`` headers
can only lower the rate, and only when they look sane. Cancellation-safe. Does no HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiolimiter import AsyncLimiter

from producer.budget import PriorityBudget
from producer.clock import Clock
from producer.telemetry.metrics import DomainMetrics

__all__ = ["DomainLimiter"]

_REFILL_PERIOD_S = 5.0
_FLOOR_FRACTION = 0.1
_RECOVERY_STEP = 0.1
_RECOVERY_AFTER_S = 60.0
_ADVISORY_SHARE = 0.9


class DomainLimiter:
    """The request gate of one domain: quota, server-requested pauses, priority."""

    def __init__(
        self,
        *,
        per_minute: float,
        priority: str,
        clock: Clock,
        metrics: DomainMetrics,
        shared: PriorityBudget | None = None,
    ) -> None:
        self._clock = clock
        self._metrics = metrics
        self._shared = shared
        self.priority = priority
        self._configured = per_minute
        self._factor = 1.0
        self._advisory_cap: float | None = None
        self._not_before = 0.0
        self._last_throttle: float | None = None
        self._effective = per_minute
        self._bucket = self._make_bucket(per_minute)
        metrics.quota(per_minute)

    @staticmethod
    def _make_bucket(per_minute: float) -> AsyncLimiter:
        capacity = max(1.0, per_minute * _REFILL_PERIOD_S / 60.0)
        return AsyncLimiter(capacity, _REFILL_PERIOD_S)

    @property
    def per_minute(self) -> float:
        """The configured quota (what an operator set)."""
        return self._configured

    @property
    def effective_per_minute(self) -> float:
        """The rate in force now, after throttling and advisory headers."""
        return self._effective

    def set_quota(self, per_minute: float | None = None, priority: str | None = None) -> None:
        """Change the quota and/or priority at runtime (the admin endpoint)."""
        if per_minute is not None:
            self._configured = per_minute
            self._advisory_cap = None
            self._rebuild()
        if priority is not None:
            self.priority = priority

    def pause(self, seconds: float) -> None:
        """No request of this domain goes out for ``seconds`` (a 429's Retry-After)."""
        self._not_before = max(self._not_before, self._clock.monotonic() + seconds)

    def throttled(self) -> None:
        """A 429 arrived: halve the rate (not below a tenth of the quota)."""
        self._last_throttle = self._clock.monotonic()
        self._factor = max(_FLOOR_FRACTION, self._factor / 2)
        self._rebuild()

    def advise(self, headers: Mapping[str, str]) -> None:
        """Take ``inin-ratelimit-allowed``/``-reset`` as an upper bound, if they look sane.

        The platform's trio can describe a per-resource bucket rather than the token's budget,
        so it only ever lowers our rate, never raises it, and nonsense is ignored.
        """
        try:
            allowed = int(headers["inin-ratelimit-allowed"])
            reset = int(headers.get("inin-ratelimit-reset", "60"))
        except (KeyError, ValueError):
            return
        if not (0 < allowed <= 100_000 and 0 < reset <= 3600):
            return
        cap = allowed * _ADVISORY_SHARE  # budgets are per minute (reference §4.1)
        if self._advisory_cap is None or abs(cap - self._advisory_cap) > 1.0:
            self._advisory_cap = cap
            self._rebuild()

    def _recover(self) -> None:
        if self._factor >= 1.0 or self._last_throttle is None:
            return
        if self._clock.monotonic() - self._last_throttle >= _RECOVERY_AFTER_S:
            self._factor = min(1.0, self._factor + _RECOVERY_STEP)
            self._last_throttle = self._clock.monotonic()
            self._rebuild()

    def _rebuild(self) -> None:
        rate = self._configured * self._factor
        if self._advisory_cap is not None:
            rate = min(rate, self._advisory_cap)
        rate = max(rate, self._configured * _FLOOR_FRACTION)
        if rate != self._effective:
            self._effective = rate
            self._bucket = self._make_bucket(rate)
            self._metrics.quota(rate)

    async def acquire(self) -> None:
        """Wait until a request may be sent: after any pause, a quota slot, a shared slot."""
        started = self._clock.monotonic()
        self._recover()
        while (remaining := self._not_before - self._clock.monotonic()) > 0:
            await self._clock.sleep(remaining)
        await self._bucket.acquire()
        if self._shared is not None:
            await self._shared.acquire(self.priority)
        self._metrics.limiter_waited(self._clock.monotonic() - started)
