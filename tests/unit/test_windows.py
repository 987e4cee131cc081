"""Window planning: windows tile time with no gap or overlap, and wait for availability."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producer.windows import Window, align_down, format_instant, next_window, parse_instant

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
