"""Step 2a (auth), timing rules: when to renew a token, how long it stays usable, how to back off.

Pure functions of a token's lifetime, the configured margin and an injected ``random.Random``:
no I/O, no clock reads, no event loop. ``manager.py`` turns them into monotonic deadlines.
"""

from __future__ import annotations

import random
from typing import Final

__all__ = [
    "BACKOFF_MAX_S",
    "MARGIN_FRACTION",
    "backoff_seconds",
    "effective_margin_seconds",
    "refresh_after_seconds",
    "usable_margin_seconds",
]

MARGIN_FRACTION: Final = 0.25
"""The refresh margin never exceeds this fraction of a token's lifetime."""

BACKOFF_MAX_S: Final = 60.0
"""Cap of the wait between failed grants (and between grants after repeated 401s)."""

_JITTER_MAX_S: Final = 60.0
_BACKOFF_INITIAL_S: Final = 1.0


def effective_margin_seconds(lifetime_s: float, margin_s: float) -> float:
    """Renew this long before expiry: ``margin_s``, capped at ``MARGIN_FRACTION`` of the lifetime.

    The cap keeps short-lived tokens (lifetime near or below the margin) from being renewed per
    request: a 10 s token is renewed about every 7 s, not on every call.
    """
    return max(0.0, min(margin_s, lifetime_s * MARGIN_FRACTION))


def refresh_after_seconds(lifetime_s: float, margin_s: float, rng: random.Random) -> float:
    """Seconds after issuance at which to renew: lifetime - effective margin - jitter.

    The jitter is uniform in ``[0, min(60 s, effective margin / 2)]`` and only ever makes the
    refresh earlier, so the margin still holds while domains minted together spread out.
    """
    margin = effective_margin_seconds(lifetime_s, margin_s)
    jitter = rng.uniform(0.0, min(_JITTER_MAX_S, margin / 2))
    return max(0.0, lifetime_s - margin - jitter)


def usable_margin_seconds(lifetime_s: float, margin_s: float, request_timeout_s: float) -> float:
    """The mandatory window: a token is not handed out this close to its expiry.

    ``min(request_timeout_s, effective margin / 2)``: a request never leaves with a token that
    could expire in flight, and the advisory window (refresh time to this) stays the larger part.
    """
    return max(0.0, min(request_timeout_s, effective_margin_seconds(lifetime_s, margin_s) / 2))


def backoff_seconds(failures: int, rng: random.Random) -> float:
    """Wait after ``failures`` (>= 1) consecutive failures: 1, 2, 4 ... capped at 60 s, jittered.

    The result lies in ``[ceiling / 2, ceiling]`` with ``ceiling = min(60, 2 ** (failures - 1))``.
    """
    exponent = min(max(failures, 1) - 1, 32)
    ceiling = min(BACKOFF_MAX_S, _BACKOFF_INITIAL_S * 2.0**exponent)
    return rng.uniform(ceiling / 2, ceiling)
