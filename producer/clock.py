"""The time seam: every component that waits or reads the time takes a ``Clock``.

The real clock reads the event loop's monotonic time and the UTC wall clock. Tests inject their
own to drive token refresh, rate limiting and window planning without sleeping.
``iso_instant`` is the one text form of an instant the lake's files carry (UTC, with a ``Z``);
``aware_instant`` reads an instant with an offset from a platform's (or a request's) text.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any, Protocol

__all__ = ["Clock", "SystemClock", "aware_instant", "iso_instant"]


class Clock(Protocol):
    """Monotonic seconds, UTC wall time, and an awaitable sleep."""

    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: ``time.monotonic``, ``datetime.now(UTC)``, ``asyncio.sleep``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def iso_instant(instant: datetime) -> str:
    """UTC ISO-8601 with a ``Z`` (naive datetimes are taken as UTC)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def aware_instant(value: Any) -> datetime | None:
    """An ISO-8601 instant with an offset (``...Z`` or ``+hh:mm``, ms optional); None for
    anything else: not a string, empty, unparseable, or without an offset."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
