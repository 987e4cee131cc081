"""Window planning: windows tile time with no gap or overlap, and wait for availability."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producer.windows import (
    IncrementalPlanner,
    SnapshotPlanner,
    Window,
    align_down,
    format_instant,
    next_window,
    parse_instant,
    week_start,
)

_T0 = datetime(2025, 3, 10, tzinfo=UTC)
_SIZES = st.sampled_from([60, 300, 900, 3600, 86_400])


@given(
    size=_SIZES,
    offset=st.integers(min_value=0, max_value=10 * 86_400),
    steps=st.integers(min_value=1, max_value=50),
)
def test_consecutive_windows_tile_time(size: int, offset: int, steps: int) -> None:
    """Each window starts exactly where the previous ended, and all have the same length."""
    watermark = align_down(_T0 + timedelta(seconds=offset), size)
    far_future = watermark + timedelta(days=400)
    for _ in range(steps):
        window = next_window(watermark, size, now=far_future, available_until=None)
        assert window is not None
        assert window.start == watermark
        assert window.seconds == size
        assert window.start.timestamp() % size == 0
        watermark = window.end


@given(size=_SIZES, offset=st.integers(min_value=1, max_value=86_399))
def test_unaligned_watermark_gets_a_short_window_not_a_gap(size: int, offset: int) -> None:
    """After a change of window length, the next window starts at the watermark (no gap)."""
    watermark = _T0 + timedelta(seconds=offset)
    window = next_window(watermark, size, now=_T0 + timedelta(days=30), available_until=None)
    assert window is not None
    assert window.start == watermark
    assert window.end.timestamp() % size == 0
    assert 0 < window.seconds <= size


def test_open_window_is_not_exported() -> None:
    """A window that has not closed yet is not planned."""
    now = _T0 + timedelta(minutes=14, seconds=59)
    assert next_window(_T0, 900, now=now, available_until=None) is None
    assert next_window(_T0, 900, now=now + timedelta(seconds=1), available_until=None) == Window(
        _T0, _T0 + timedelta(minutes=15)
    )


def test_window_waits_for_source_availability() -> None:
    """A closed window past the source's availability date waits (its data would be missing)."""
    now = _T0 + timedelta(hours=5)
    available = _T0 + timedelta(minutes=14)
    assert next_window(_T0, 900, now=now, available_until=available) is None
    available = _T0 + timedelta(minutes=15)
    assert next_window(_T0, 900, now=now, available_until=available) is not None


def test_labels_and_intervals() -> None:
    """Keys use YYYYMMDDTHHMMSSZ; the platform gets ISO-8601 with milliseconds."""
    window = Window(_T0, _T0 + timedelta(minutes=15))
    assert window.label == "20250310T000000Z-20250310T001500Z"
    assert window.interval() == "2025-03-10T00:00:00.000Z/2025-03-10T00:15:00.000Z"
    assert parse_instant(format_instant(_T0)) == _T0
    assert window.contains(_T0)
    assert not window.contains(window.end)


def test_window_rejects_naive_or_empty_bounds() -> None:
    """Bounds must be aware and ordered."""
    with pytest.raises(ValueError, match="timezone"):
        Window(datetime(2025, 1, 1), datetime(2025, 1, 2))
    with pytest.raises(ValueError, match="after"):
        Window(_T0, _T0)


class TestSnapshotPlanner:
    """Weekly snapshots: closed weeks once, open weeks again when their snapshot is stale."""

    _MONDAY = datetime(2025, 3, 10, tzinfo=UTC)

    def test_weeks_start_on_monday_utc(self) -> None:
        """Any instant maps to Monday 00:00 UTC of its week."""
        wednesday = self._MONDAY + timedelta(days=2, hours=13)
        assert week_start(wednesday) == self._MONDAY
        assert week_start(self._MONDAY) == self._MONDAY

    def test_open_weeks_are_due_once_per_interval(self) -> None:
        """Current and upcoming weeks are due, then not again until the interval has passed."""
        planner = SnapshotPlanner(horizon_weeks=2, snapshot_seconds=3600)
        now = self._MONDAY + timedelta(days=2)
        due = planner.due(self._MONDAY, now=now, available_until=None)
        assert [w.start for w in due] == [self._MONDAY + timedelta(weeks=n) for n in range(3)]
        for window in due:
            planner.completed(window, now=now)
        assert (
            planner.due(self._MONDAY, now=now + timedelta(minutes=59), available_until=None) == []
        )
        later = now + timedelta(hours=1)
        assert len(planner.due(self._MONDAY, now=later, available_until=None)) == 3
        assert planner.idle_seconds(self._MONDAY, now=now + timedelta(minutes=30)) == 1800

    def test_closed_weeks_after_the_watermark_are_always_due(self) -> None:
        """A week that ended since the watermark gets its final snapshot, however recent."""
        planner = SnapshotPlanner(horizon_weeks=0, snapshot_seconds=3600)
        now = self._MONDAY + timedelta(weeks=1, hours=1)
        first = Window(self._MONDAY, self._MONDAY + timedelta(weeks=1))
        planner.completed(first, now=now - timedelta(minutes=5))
        due = planner.due(self._MONDAY, now=now, available_until=None)
        assert due[0] == first
        assert due[-1].start == week_start(now)

    def test_nothing_before_the_watermark(self) -> None:
        """Weeks before the watermark are final and never planned again."""
        planner = SnapshotPlanner(horizon_weeks=1, snapshot_seconds=60)
        watermark = self._MONDAY + timedelta(weeks=3)
        now = watermark + timedelta(days=1)
        due = planner.due(watermark, now=now, available_until=None)
        assert min(w.start for w in due) == watermark


def test_incremental_planner_is_next_window() -> None:
    """The incremental planner plans exactly next_window, one at a time."""
    planner = IncrementalPlanner(900)
    now = _T0 + timedelta(hours=1)
    assert planner.align(_T0 + timedelta(minutes=7)) == _T0
    assert planner.due(_T0, now=now, available_until=None) == [
        Window(_T0, _T0 + timedelta(minutes=15))
    ]
    assert planner.due(_T0 + timedelta(minutes=45), now=now, available_until=None) == [
        Window(_T0 + timedelta(minutes=45), now)
    ]
    assert planner.due(now, now=now, available_until=None) == []
    assert planner.idle_seconds(now, now=now) == 60.0
