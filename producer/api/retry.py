"""Step 2 (extract), the retry policy: which responses to retry and how long to wait. Pure.

Mirrors the platform SDK's policy (reference §4.3): retry 429, 502, 503, 504 and connection
errors; wait ``Retry-After`` when given (3 s for a 429 without it); otherwise exponential backoff
with full jitter, capped. A request is given up once its retry budget (seconds) is spent. No I/O
and no clock reads here: callers pass the attempt number and elapsed time.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

__all__ = ["RETRYABLE_STATUSES", "RetryPolicy", "parse_retry_after"]

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, *, now_unix: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date); None if absent/bad."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if now_unix is None:
            return None
        seconds = when.timestamp() - now_unix
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff for one request: ``delay(attempt, retry_after)``; give up after ``budget_s``."""

    base_s: float = 0.5
    cap_s: float = 30.0
    budget_s: float = 300.0
    throttle_default_s: float = 3.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int, retry_after: float | None, *, throttled: bool = False) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1).

        A server's ``Retry-After`` is always honoured exactly (never shortened); a bit of jitter
        is added on top so that waiters do not return in lockstep.
        """
        if retry_after is not None:
            return retry_after + self.rng.uniform(0.0, min(1.0, 0.1 * retry_after + 0.05))
        if throttled:
            return self.throttle_default_s + self.rng.uniform(0.0, 0.5)
        ceiling = min(self.cap_s, self.base_s * (2 ** (attempt - 1)))
        return self.rng.uniform(ceiling / 2, ceiling)

    def exhausted(self, elapsed_s: float, next_delay_s: float) -> bool:
        """True when waiting ``next_delay_s`` more would pass the request's budget."""
        return elapsed_s + next_delay_s > self.budget_s
