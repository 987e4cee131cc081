"""Lake keys: the layout of DESIGN.md, deterministic, unique per window and part, time-sortable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producer.lake.keys import (
    checkpoint_key,
    data_key,
    dlq_key,
    parse_part_key,
    registry_key,
    window_part_prefix,
)
from producer.windows import Window

START = datetime(2024, 3, 1, 13, 45, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(minutes=15))

_windows = st.builds(
    lambda slot, seconds: Window(
        datetime.fromtimestamp(slot * seconds, tz=UTC),
        datetime.fromtimestamp((slot + 1) * seconds, tz=UTC),
    ),
    st.integers(min_value=1_600_000_000 // 3600, max_value=2_000_000_000 // 3600),
    st.sampled_from([300, 900, 3600]),
)
_parts = st.integers(min_value=0, max_value=99_999)
_compressions = st.sampled_from(["gzip", "zstd"])


class TestLayout:
    def test_data_key_matches_the_design_layout(self) -> None:
        """A data part lands under v{MAJOR}/dt=/hour= with the window label and a 5-digit part."""
        key = data_key("telephony-cdr-export", 1, "telephony", WINDOW, 0)
        assert key == (
            "telephony-cdr-export/v1/dt=2024-03-01/hour=13/"
            "telephony-20240301T134500Z-20240301T140000Z-part-00000.ndjson.gz"
        )

    def test_dlq_key_matches_the_design_layout(self) -> None:
        """A DLQ part lands under failed-records/, without a major version."""
        key = dlq_key("qms-scores-export", "quality", WINDOW, 12, "zstd")
        assert key == (
            "qms-scores-export/failed-records/dt=2024-03-01/hour=13/"
            "quality-20240301T134500Z-20240301T140000Z-part-00012.ndjson.zst"
        )

    def test_partition_is_taken_from_the_window_start_in_utc(self) -> None:
        """A window given in another time zone is partitioned by its UTC start."""
        plus_two = timezone(timedelta(hours=2))
        start = datetime(2024, 3, 2, 1, 30, tzinfo=plus_two)  # 2024-03-01T23:30Z
        key = data_key("p", 2, "wfm", Window(start, start + timedelta(hours=1)), 3)
        assert key.startswith("p/v2/dt=2024-03-01/hour=23/wfm-20240301T233000Z-20240302T003000Z-")

    def test_state_and_registry_keys(self) -> None:
        """The checkpoint lives in the product's _state; contracts in the lake-wide _registry."""
        assert (
            checkpoint_key("telephony-cdr-export") == "telephony-cdr-export/_state/checkpoint.json"
        )
        assert registry_key("telephony", "1.0") == "_registry/telephony/1.0.json"

    def test_empty_and_slashed_prefixes_are_normalised(self) -> None:
        """An empty prefix adds no leading slash; surrounding slashes are dropped; nesting kept."""
        assert data_key("", 1, "telephony", WINDOW, 0).startswith("v1/dt=2024-03-01/")
        assert checkpoint_key("/team/cdr/") == "team/cdr/_state/checkpoint.json"

    @pytest.mark.parametrize(
        ("call", "message"),
        [
            (lambda: data_key("p", 1, "telephony", WINDOW, -1), "part number"),
            (lambda: data_key("p", 1, "telephony", WINDOW, 100_000), "part number"),
            (lambda: data_key("p", -1, "telephony", WINDOW, 0), "major"),
            (lambda: data_key("p", 1, "tele/phony", WINDOW, 0), "domain"),
            (lambda: data_key("a/../b", 1, "telephony", WINDOW, 0), "prefix"),
            (lambda: dlq_key("p", "telephony", WINDOW, 0, "brotli"), "compression"),
            (lambda: registry_key("telephony", "1"), "MAJOR.MINOR"),
        ],
    )
    def test_malformed_inputs_are_refused(self, call: Callable[[], str], message: str) -> None:
        """Inputs that would break the layout raise ValueError instead of writing elsewhere."""
        with pytest.raises(ValueError, match=message):
            call()

    def test_window_prefix_selects_exactly_one_window_of_one_domain(self) -> None:
        """The listing prefix matches this window's parts, not a neighbour's or another domain's."""
        prefix = window_part_prefix("data", "p", "telephony", WINDOW, 1)
        assert data_key("p", 1, "telephony", WINDOW, 7).startswith(prefix)
        assert data_key("p", 1, "telephony", WINDOW, 7, "zstd").startswith(prefix)
        later = Window(WINDOW.end, WINDOW.end + timedelta(minutes=15))
        assert not data_key("p", 1, "telephony", later, 0).startswith(prefix)
        assert not data_key("p", 1, "telephony_b", WINDOW, 0).startswith(prefix)
        assert not dlq_key("p", "telephony", WINDOW, 0).startswith(prefix)
        assert dlq_key("p", "telephony", WINDOW, 0).startswith(
            window_part_prefix("dlq", "p", "telephony", WINDOW)
        )

    def test_parse_refuses_foreign_keys(self) -> None:
        """Keys not made by data_key/dlq_key (or with a lying partition) do not parse."""
        with pytest.raises(ValueError, match="not a lake part key"):
            parse_part_key("p/_state/checkpoint.json")
        lying = data_key("p", 1, "telephony", WINDOW, 0).replace("hour=13", "hour=14")
        with pytest.raises(ValueError, match="partition"):
            parse_part_key(lying)


class TestProperties:
    @given(window=_windows, part=_parts, compression=_compressions, major=st.integers(0, 99))
    def test_keys_parse_back(self, window: Window, part: int, compression: str, major: int) -> None:
        """Every data and DLQ key parses back to the window, part, kind and codec it was made of."""
        data = parse_part_key(data_key("team/cdr", major, "telephony", window, part, compression))
        assert (data.kind, data.prefix, data.major, data.domain) == (
            "data",
            "team/cdr",
            major,
            "telephony",
        )
        assert (data.window, data.part, data.compression) == (window, part, compression)
        dlq = parse_part_key(dlq_key("", "wfm", window, part, compression))
        assert (dlq.kind, dlq.prefix, dlq.major, dlq.window, dlq.part) == (
            "dlq",
            "",
            None,
            window,
            part,
        )

    @given(
        items=st.lists(st.tuples(_windows, st.integers(0, 200)), min_size=2, max_size=20),
    )
    def test_keys_are_deterministic_unique_and_sort_by_time(
        self, items: list[tuple[Window, int]]
    ) -> None:
        """Same inputs, same key; distinct (window, part), distinct and time-ordered keys."""
        unique = sorted(set(items), key=lambda item: (item[0].start, item[0].end, item[1]))
        keys = [data_key("p", 1, "telephony", window, part) for window, part in unique]
        assert keys == [data_key("p", 1, "telephony", window, part) for window, part in unique]
        assert len(set(keys)) == len(keys)
        assert keys == sorted(keys)
