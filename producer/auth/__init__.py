"""Step 2a (extract, auth): one domain's OAuth client-credentials token, kept fresh ahead of use.

``manager`` holds the lifecycle (refresher task, single flight, 401 invalidation, readiness),
``grant`` the one call to the token endpoint (HTTP Basic, secret file re-read on rotation) and
``schedule`` the pure timing rules (capped margin, jitter, backoff), ``scrub`` the one scrubber
of upstream text. Nothing here retries API calls, and no secret or token ever reaches a log,
exception, metric label or ``repr()``.
"""

from __future__ import annotations

from producer.auth.manager import TokenManager
from producer.auth.schedule import (
    MARGIN_FRACTION,
    backoff_seconds,
    effective_margin_seconds,
    refresh_after_seconds,
    usable_margin_seconds,
)
from producer.auth.scrub import scrub

__all__ = [
    "MARGIN_FRACTION",
    "TokenManager",
    "backoff_seconds",
    "effective_margin_seconds",
    "refresh_after_seconds",
    "scrub",
    "usable_margin_seconds",
]
