"""Step 2 (extract) for NICE CXone: the pacing of Data Extraction calls, one gate per tenant.

The Data Extraction API allows one call per 30 s per tenant and answers a call that breaks the
rule with a 403 (reference §3.4). ``TenantGates`` holds one ``IntervalGate`` per tenant, shared
by every CXone domain of this process (``wiring.tenant_gates`` makes it once per run), so two
domains of one tenant never collide. No I/O of its own: it only waits.
"""

from __future__ import annotations

import asyncio

from producer.clock import Clock
from producer.ratelimit import DomainLimiter
from producer.telemetry.metrics import DomainMetrics

__all__ = ["IntervalGate", "TenantGates"]


class IntervalGate(DomainLimiter):
    """A limiter that lets one request leave every ``interval_s`` seconds, never a burst.

    ``DomainLimiter``'s bucket holds five seconds' worth of requests; a tenant rule of one call
    per 30 s allows no burst at all, so this gate spaces departures by ``interval_s`` (which
    includes a margin for the requests' unequal transit). Pauses (``pause``) still apply.
    """

    def __init__(self, *, interval_s: float, clock: Clock, metrics: DomainMetrics) -> None:
        super().__init__(
            per_minute=60.0 / interval_s, priority="normal", clock=clock, metrics=metrics
        )
        self._interval_s = interval_s
        self._gate_clock = clock
        self._gate_lock = asyncio.Lock()
        self._last: float | None = None

    async def acquire(self) -> None:
        """Wait for any pause, then until ``interval_s`` after the previous departure."""
        async with self._gate_lock:
            while True:
                await self._wait_pause()
                now = self._gate_clock.monotonic()
                due = now if self._last is None else self._last + self._interval_s
                if due <= now:
                    break
                await self._gate_clock.sleep(due - now)
            self._last = self._gate_clock.monotonic()


class TenantGates:
    """One Data Extraction gate per CXone tenant, shared by every domain of this process.

    Each is an ``IntervalGate`` at ``min_interval_s + margin_s``: the tenant's calls leave at
    least that far apart whichever domain sends them, and arrive at least ``min_interval_s``
    apart unless transit times differ by more than the margin.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        metrics: DomainMetrics,
        min_interval_s: float = 30.0,
        margin_s: float = 1.0,
    ) -> None:
        self._clock = clock
        self._metrics = metrics
        self._interval_s = min_interval_s + margin_s
        self._gates: dict[str, IntervalGate] = {}

    def gate(self, tenant_id: str) -> IntervalGate:
        """The tenant's gate, made on first use."""
        found = self._gates.get(tenant_id)
        if found is None:
            found = IntervalGate(
                interval_s=self._interval_s, clock=self._clock, metrics=self._metrics
            )
            self._gates[tenant_id] = found
        return found
