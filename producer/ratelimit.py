"""Step 2b (limit): a domain's own request quota, the pauses the platform asks for, and priority.

``DomainLimiter`` gates every request of one domain: first any pause a 429 asked for
(``Retry-After``), then the domain's own token bucket (capacity = quota/12, refilled
continuously, so no 60-second window sees more than ~13/12 of the quota), then, when configured,
the org-wide ``PriorityBudget`` shared with the other domains; a pause that arrived while the
request waited for its slots is waited out before it goes.

``Retry-After`` is the platform's exact instruction, and the pause it asks for is what protects
the platform: a 429 that carries one does not lower the rate. The rate goes down (x0.7, not
below a tenth of the quota) only on evidence that the platform grants us less than our quota: a
429 without ``Retry-After``, or a 429 on the first request sent after a pause (the pause did
not clear it; a platform that refuses every k-th call regardless of our rate never does that
for k > 1, and lowering the rate would not help against it). Every 5 s without such a 429
gives back a tenth of the quota, so the quota is whole again within seconds once the platform
accepts requests. ``inin-ratelimit-*`` headers can only lower the rate, only when they look
sane, and only for the ``-reset`` seconds they describe unless a later response repeats them.
Time is the injected ``Clock``'s, so the limiter is deterministic under a test clock.
Cancellation-safe. Does no HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from producer.budget import PriorityBudget
from producer.clock import Clock
from producer.telemetry.metrics import DomainMetrics

__all__ = ["DomainLimiter"]

_BURST_S = 5.0  # the bucket holds this many seconds' worth of requests
_FLOOR_FRACTION = 0.1
_DECREASE = 0.7
_RECOVERY_STEP = 0.1
_RECOVERY_QUIET_S = 5.0
_ADVISORY_SHARE = 0.9


def _rate_and_capacity(per_minute: float) -> tuple[float, float]:
    """A bucket's refill per second and its size: ``_BURST_S`` seconds' worth, one at least."""
    return per_minute / 60.0, max(1.0, per_minute * _BURST_S / 60.0)


class _Bucket:
    """A token bucket on the injected clock, served first come, first served."""

    def __init__(self, per_minute: float, clock: Clock) -> None:
        self._clock = clock
        self._lock = asyncio.Lock()
        self._rate_per_s, self._capacity = _rate_and_capacity(per_minute)
        self._tokens = self._capacity
        self._updated = clock.monotonic()

    def set_rate(self, per_minute: float) -> None:
        """Change the rate; the slots saved so far stay (within the new capacity)."""
        self._refill()
        self._rate_per_s, self._capacity = _rate_and_capacity(per_minute)
        self._tokens = min(self._tokens, self._capacity)

    def _refill(self) -> None:
        now = self._clock.monotonic()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self._capacity, self._tokens + elapsed * self._rate_per_s)
        self._updated = now

    async def acquire(self) -> None:
        """Take one slot, waiting for it. A cancelled waiter takes nothing."""
        async with self._lock:
            while True:
                self._refill()
                if self._tokens >= 1.0 - 1e-9:
                    self._tokens = max(0.0, self._tokens - 1.0)
                    return
                await self._clock.sleep((1.0 - self._tokens) / self._rate_per_s)


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
        self._lowered_at = 0.0  # when the factor last went down or took a recovery step
        self._advisory_cap: float | None = None
        self._advisory_until = 0.0
        self._not_before = 0.0
        self._sent_since_pause: int | None = None  # None: never paused
        self._effective = per_minute
        self._bucket = _Bucket(per_minute, clock)
        metrics.quota(per_minute)

    @property
    def per_minute(self) -> float:
        """The configured quota (what an operator set)."""
        return self._configured

    @property
    def effective_per_minute(self) -> float:
        """The rate in force now, after throttling and advisory headers."""
        self._refresh()
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
        self._sent_since_pause = 0

    def throttled(self, retry_after: float | None) -> None:
        """A 429 arrived (``retry_after``: its header, None when absent).

        With ``Retry-After`` the pause that follows is the whole answer, unless the 429 hit the
        first request sent after the previous pause: then, as without ``Retry-After``, the
        platform grants less than our quota and the rate goes down (x0.7, to a tenth at least).
        """
        if retry_after is not None and self._sent_since_pause != 1:
            return
        self._factor = max(_FLOOR_FRACTION, self._factor * _DECREASE)
        self._lowered_at = self._clock.monotonic()
        self._rebuild()

    def advise(self, headers: Mapping[str, str]) -> None:
        """Take ``inin-ratelimit-allowed``/``-reset`` as an upper bound, if they look sane.

        The platform's trio can describe a per-resource bucket rather than the token's budget,
        so it only ever lowers our rate, never raises it, and nonsense is ignored. The bound
        lapses ``-reset`` seconds after the last response that gave it.
        """
        try:
            allowed = int(headers["inin-ratelimit-allowed"])
            reset = int(headers.get("inin-ratelimit-reset", "60"))
        except (KeyError, ValueError):
            return
        if not (0 < allowed <= 100_000 and 0 < reset <= 3600):
            return
        cap = allowed * _ADVISORY_SHARE  # budgets are per minute (reference §4.1)
        self._advisory_until = self._clock.monotonic() + reset
        if self._advisory_cap is None or abs(cap - self._advisory_cap) > 1.0:
            self._advisory_cap = cap
            self._rebuild()

    def _refresh(self) -> None:
        """Apply what time alone changes: recovery steps, advice that has lapsed."""
        now = self._clock.monotonic()
        changed = False
        if self._advisory_cap is not None and now >= self._advisory_until:
            self._advisory_cap = None
            changed = True
        if self._factor < 1.0:
            steps = int((now - self._lowered_at) // _RECOVERY_QUIET_S)
            if steps > 0:
                self._factor = min(1.0, self._factor + steps * _RECOVERY_STEP)
                self._lowered_at += steps * _RECOVERY_QUIET_S
                changed = True
        if changed:
            self._rebuild()

    def _rebuild(self) -> None:
        rate = self._configured * self._factor
        if self._advisory_cap is not None:
            rate = min(rate, self._advisory_cap)
        rate = max(rate, self._configured * _FLOOR_FRACTION)
        if rate != self._effective:
            self._effective = rate
            self._bucket.set_rate(rate)
            self._metrics.quota(rate)

    async def _wait_pause(self) -> None:
        while (remaining := self._not_before - self._clock.monotonic()) > 0:
            await self._clock.sleep(remaining)

    async def acquire(self) -> None:
        """Wait until a request may be sent: after any pause, a quota slot, a shared slot."""
        started = self._clock.monotonic()
        self._refresh()
        await self._wait_pause()
        await self._bucket.acquire()
        if self._shared is not None:
            await self._shared.acquire(self.priority)
        await self._wait_pause()  # a 429 may have paused the domain while this one queued
        if self._sent_since_pause is not None:
            self._sent_since_pause += 1
        self._metrics.limiter_waited(self._clock.monotonic() - started)
