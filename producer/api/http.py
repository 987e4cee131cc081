"""Step 2 (extract): ``DomainHttp``, what every HTTP request of one domain shares.

A domain's token grants and API calls go out on its session, are counted in its metrics, wait on
the injected clock, retry by one policy, time out alike and refuse alike a ``Retry-After`` that
asks for more than the cap (a quota, not a pause). The composition root builds one per domain
(``platforms.source.SourceContext.http``) and a platform hands it, whole, to the
``auth.manager.TokenManager`` and the ``api.client.ApiClient`` it builds: a new platform cannot
forget a setting on its way down. A value, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from producer.api.retry import RetryPolicy
from producer.clock import Clock
from producer.telemetry.metrics import DomainMetrics

__all__ = ["DomainHttp"]


@dataclass(frozen=True, slots=True)
class DomainHttp:
    """One domain's request plumbing (module docstring)."""

    domain: str
    session: aiohttp.ClientSession
    metrics: DomainMetrics
    clock: Clock
    retry: RetryPolicy
    request_timeout_s: float = 30.0
    max_retry_after_s: float = 180.0
    """A 429 asking for a longer wait raises ``QuotaExceededError`` at once."""
