"""Step 1, plan: which windows to export next. Pure: no I/O, no clock reads.

Windows are half-open UTC intervals ``[start, end)``. ``IncrementalPlanner`` (event data:
Telephony, Quality) tiles time with windows of ``window_seconds`` aligned to multiples of that
length since the epoch, each exported once it is closed (``end <= now``) and the source says its
data is available (``end <= available_until``). ``SnapshotPlanner`` (state that changes after
publication: WFM schedules) re-exports the current and upcoming UTC weeks on a schedule.
``Resweeps`` plans the re-exports of landed windows for late data, from when each was last
exported (as the checkpoint's ledger keeps it).
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = [
    "IncrementalPlanner",
    "Planner",
    "Resweeps",
    "SnapshotPlanner",
    "Window",
    "align_down",
    "format_instant",
    "next_window",
    "parse_instant",
    "week_start",
]

_STAMP = "%Y%m%dT%H%M%SZ"
_LEDGER_MIN = timedelta(hours=24)


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

    @classmethod
    def from_label(cls, label: str) -> Window:
        """The window of a ``label`` (``ValueError`` if it is not one)."""
        start, end = label.split("-")
        return cls(parse_instant(start), parse_instant(end))

    def interval(self) -> str:
        """The platform's interval string ``start/end`` in ISO-8601 with milliseconds."""
        return f"{_iso_ms(self.start)}/{_iso_ms(self.end)}"

    def contains(self, instant: datetime) -> bool:
        """True when ``start <= instant < end``."""
        return self.start <= instant < self.end


class Planner(Protocol):
    """Decides which windows a domain exports next; pure apart from what ``completed`` records."""

    def align(self, start_at: datetime) -> datetime:
        """The first watermark of a domain without checkpoint."""
        ...

    def due(
        self, watermark: datetime, *, now: datetime, available_until: datetime | None
    ) -> list[Window]:
        """Windows to export now, in order (empty: nothing is due)."""
        ...

    def completed(self, window: Window, *, now: datetime) -> None:
        """``window`` landed at ``now``."""
        ...

    def idle_seconds(self, watermark: datetime, *, now: datetime) -> float:
        """How long to wait when nothing is due."""
        ...


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


def week_start(instant: datetime) -> datetime:
    """Monday 00:00 UTC of the week that contains ``instant``."""
    day = instant.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


class IncrementalPlanner:
    """Consecutive closed windows after the watermark (Telephony, Quality).

    Each window is exported once, when it is closed and available; the watermark then moves to
    its end.
    """

    def __init__(self, window_seconds: int) -> None:
        self.window_seconds = window_seconds

    def align(self, start_at: datetime) -> datetime:
        """Where a domain without checkpoint starts: ``start_at`` aligned down to a window."""
        return align_down(start_at, self.window_seconds)

    def due(
        self, watermark: datetime, *, now: datetime, available_until: datetime | None
    ) -> list[Window]:
        """The next window if it is closed and available, else nothing."""
        window = next_window(
            watermark, self.window_seconds, now=now, available_until=available_until
        )
        return [window] if window is not None else []

    def completed(self, window: Window, *, now: datetime) -> None:
        """Nothing to remember: the watermark carries all the state."""

    def idle_seconds(self, watermark: datetime, *, now: datetime) -> float:
        """Until the next window closes, between 1 s and 60 s."""
        closes = align_down(watermark, self.window_seconds).timestamp() + self.window_seconds
        return max(1.0, min(60.0, closes - now.timestamp()))


class SnapshotPlanner:
    """Weekly snapshots (WFM): closed weeks once more, open weeks every ``snapshot_seconds``.

    Windows are UTC weeks from Monday 00:00. A week that has ended since the watermark gets one
    final snapshot, after which the watermark moves past it. The current week and the next
    ``horizon_weeks`` are re-exported whenever their last snapshot is older than
    ``snapshot_seconds``; unchanged content rewrites nothing (deterministic keys and bytes).
    """

    def __init__(self, *, horizon_weeks: int, snapshot_seconds: float) -> None:
        self.horizon_weeks = horizon_weeks
        self.snapshot_seconds = snapshot_seconds
        self._last_snapshot: dict[Window, datetime] = {}

    def align(self, start_at: datetime) -> datetime:
        """Where a domain without checkpoint starts: the Monday of ``start_at``'s week."""
        return week_start(start_at)

    def due(
        self, watermark: datetime, *, now: datetime, available_until: datetime | None
    ) -> list[Window]:
        """Closed weeks after the watermark, then the open weeks whose snapshot is stale."""
        week = timedelta(days=7)
        windows: list[Window] = []
        start = week_start(watermark)
        if start < watermark:  # never re-open a week the watermark is inside of
            start += week
        last = week_start(now) + week * (self.horizon_weeks + 1)
        while start < last:
            window = Window(start, start + week)
            closed = window.end <= now
            if closed or self._stale(window, now):
                windows.append(window)
            start += week
        return windows

    def _stale(self, window: Window, now: datetime) -> bool:
        taken = self._last_snapshot.get(window)
        return taken is None or (now - taken).total_seconds() >= self.snapshot_seconds

    def completed(self, window: Window, *, now: datetime) -> None:
        """Remember when ``window`` was last snapshotted; forget weeks that are gone."""
        self._last_snapshot[window] = now
        horizon = week_start(now)
        for old in [w for w in self._last_snapshot if w.end <= horizon]:
            del self._last_snapshot[old]

    def idle_seconds(self, watermark: datetime, *, now: datetime) -> float:
        """Until the stalest open week is due again, between 1 s and the snapshot interval."""
        if not self._last_snapshot:
            return 1.0
        oldest = min(self._last_snapshot.values())
        wait = self.snapshot_seconds - (now - oldest).total_seconds()
        return max(1.0, min(self.snapshot_seconds, wait))


@dataclass(frozen=True, slots=True)
class Resweeps:
    """Re-exports of landed windows for late data: a window that ends within ``hours`` before
    the watermark is due again once ``interval_s`` have passed since it was last exported
    (changed or not). ``hours <= 0``: no re-sweeps."""

    hours: float = 0.0
    interval_s: float = 3600.0

    @property
    def ledger(self) -> timedelta:
        """How far behind the watermark the checkpoint keeps windows: the re-sweep horizon, and
        at least the last day (for ``status``)."""
        return max(timedelta(hours=self.hours), _LEDGER_MIN)

    def due(
        self,
        last_exported: Mapping[str, datetime],
        *,
        watermark: datetime,
        now: datetime,
        exclude: Container[str] = (),
        since: datetime | None = None,
    ) -> list[Window]:
        """The windows of ``last_exported`` (``Window.label`` → when it was last exported) that
        are due at ``now``, oldest first, leaving out the labels in ``exclude`` and any window
        that starts before ``since`` (landed from the domain's previous platform)."""
        if self.hours <= 0:
            return []
        horizon = watermark - timedelta(hours=self.hours)
        windows = []
        for label, exported_at in last_exported.items():
            if label in exclude or (now - exported_at).total_seconds() < self.interval_s:
                continue
            window = Window.from_label(label)
            if since is not None and window.start < since:
                continue
            if horizon < window.end <= watermark:
                windows.append(window)
        return sorted(windows)
