"""Step 1, plan: which window to export next. Pure functions, no I/O, no clock reads.

Windows are half-open UTC intervals ``[start, end)`` of ``window_seconds``, aligned to multiples
of that length since the Unix epoch, so they tile time with no gap or overlap and every replica
computes the same keys. A window is exported only once it is closed (``end <= now``) and the
source says its data is available (``end <= available_until``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["Window", "align_down", "format_instant", "next_window", "parse_instant"]

_STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """A half-open UTC interval ``[start, end)``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware (UTC)")
        if self.end <= self.start:
            raise ValueError("window end must be after its start")

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def label(self) -> str:
        """``{start}-{end}`` as ``YYYYMMDDTHHMMSSZ``, the form used in object keys."""
        return f"{format_instant(self.start)}-{format_instant(self.end)}"

    def interval(self) -> str:
        """The platform's interval string ``start/end`` in ISO-8601 with milliseconds."""
        return f"{_iso_ms(self.start)}/{_iso_ms(self.end)}"

    def contains(self, instant: datetime) -> bool:
        """True when ``start <= instant < end``."""
        return self.start <= instant < self.end


def format_instant(instant: datetime) -> str:
    """UTC ``YYYYMMDDTHHMMSSZ``."""
    return instant.astimezone(UTC).strftime(_STAMP)


def parse_instant(text: str) -> datetime:
    """Inverse of ``format_instant``."""
    return datetime.strptime(text, _STAMP).replace(tzinfo=UTC)


def _iso_ms(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{instant.microsecond // 1000:03d}Z"
    )


def align_down(instant: datetime, window_seconds: int) -> datetime:
    """The start of the aligned window that contains ``instant``."""
    epoch = int(instant.astimezone(UTC).timestamp())
    return datetime.fromtimestamp(epoch - epoch % window_seconds, tz=UTC)


def next_window(
    watermark: datetime,
    window_seconds: int,
    *,
    now: datetime,
    available_until: datetime | None,
) -> Window | None:
    """The window after ``watermark`` if it is closed and available, else None.

    ``watermark`` is the end of the last landed window (or the aligned start point); the
    window starts exactly there.
    ``available_until`` is the source's data availability date; None means the source has no
    such limit.
    """
    # An unaligned watermark (the window length was changed) gets a short window up to the next
    # boundary: re-aligning must never leave a gap.
    end = align_down(watermark, window_seconds) + timedelta(seconds=window_seconds)
    window = Window(watermark, end)
    if window.end > now:
        return None
    if available_until is not None and window.end > available_until:
        return None
    return window
