"""``SeenIds``: exact answers in memory, on the spill path, and with a saturated filter."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producer.seen import SeenIds


def _ids(n: int) -> list[str]:
    return [str(uuid.UUID(int=i * 7919 + 13)) for i in range(n)]


def test_in_memory_first_add_is_new_and_repeats_are_not() -> None:
    with SeenIds() as seen:
        assert seen.add("a")
        assert seen.add("b")
        assert not seen.add("a")
        assert "b" in seen
        assert "c" not in seen
        assert (len(seen), seen.spilled) == (2, 0)


def test_an_early_id_repeated_after_many_spills_is_found(tmp_path: Path) -> None:
    """Ids that left memory long ago (several runs on disk) are still known, in any order."""
    ids = _ids(5_000)
    with SeenIds(memory_ids=64, filter_bytes=16, spill_dir=str(tmp_path)) as seen:
        assert all(seen.add(i) for i in ids)
        assert seen.spilled >= 4_900
        assert len(seen._filter) > 16, "the filter grew with the spilled ids"
        assert len(seen) == 5_000
        for repeat in (ids[0], ids[63], ids[64], ids[2_500], ids[-1], *ids[::97]):
            assert not seen.add(repeat), repeat
            assert repeat in seen
        fresh = _ids(5_100)[5_000:]
        assert all(i not in seen for i in fresh)
        assert all(seen.add(i) for i in fresh)
        assert len(seen) == 5_100


def test_a_saturated_filter_still_gives_exact_answers() -> None:
    """With the smallest filter and many ids, nearly every check reads the runs: same answers."""
    ids = _ids(3_000)
    with SeenIds(memory_ids=50, max_filter_bytes=1) as seen:
        assert all(seen.add(i) for i in ids)
        assert not any(seen.add(i) for i in ids[::-7])
        assert all(seen.add(i) for i in _ids(3_200)[3_000:])


def test_the_spill_file_is_anonymous_and_closed(tmp_path: Path) -> None:
    """Nothing is visible in the spill folder; close releases the file; close twice is fine."""
    folder = tmp_path / "spill"
    folder.mkdir()
    seen = SeenIds(memory_ids=8, spill_dir=str(folder))
    for i in _ids(100):
        seen.add(i)
    assert seen.spilled > 0
    assert list(folder.iterdir()) == []
    fd = seen._fd
    os.fstat(fd)  # open while in use
    seen.close()
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fd)
    seen.close()
    assert len(seen) == 0
    assert seen.add(_ids(1)[0]), "a closed set starts empty"


def test_a_set_that_is_dropped_closes_its_file() -> None:
    seen = SeenIds(memory_ids=4)
    for i in _ids(20):
        seen.add(i)
    fd = seen._fd
    del seen
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fd)


def test_memory_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="memory_ids"):
        SeenIds(memory_ids=0)


@settings(max_examples=60, deadline=None)
@given(
    stream=st.lists(st.integers(min_value=0, max_value=400), max_size=1_500),
    memory_ids=st.integers(min_value=1, max_value=40),
    filter_bytes=st.sampled_from([1, 16, 1 << 20]),
    max_filter_bytes=st.sampled_from([1, 64, 1 << 20]),
)
def test_answers_equal_a_plain_set(
    stream: list[int], memory_ids: int, filter_bytes: int, max_filter_bytes: int
) -> None:
    """Any order of repeats, any memory bound, any filter size (grown or saturated): the
    answers of a ``set``."""
    expected: set[str] = set()
    with SeenIds(
        memory_ids=memory_ids, filter_bytes=filter_bytes, max_filter_bytes=max_filter_bytes
    ) as seen:
        for number in stream:
            record_id = f"id-{number}"
            assert seen.add(record_id) == (record_id not in expected)
            expected.add(record_id)
        assert len(seen) == len(expected)
