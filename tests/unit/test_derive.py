"""``derive``: a contract's record from the mapper's, by the contract's ``rename``."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from producer.contracts.derive import derive

_RENAME = {"metadata.agent_id": "metadata.staff_id"}


def test_the_guides_rename_moves_the_value_and_nothing_else() -> None:
    record = {"interaction_id": "x", "metadata": {"agent_id": "a-1", "campaign_id": "c"}}
    original = copy.deepcopy(record)
    assert derive(record, _RENAME) == {
        "interaction_id": "x",
        "metadata": {"staff_id": "a-1", "campaign_id": "c"},
    }
    assert record == original  # the mapper's record is not touched


def test_an_absent_source_changes_nothing() -> None:
    record: dict[str, Any] = {"interaction_id": "x", "metadata": {"campaign_id": "c"}}
    assert derive(record, _RENAME) == record
    assert derive({"interaction_id": "x"}, _RENAME) == {"interaction_id": "x"}


def test_an_object_left_empty_is_removed_and_a_new_path_is_created() -> None:
    assert derive({"metadata": {"agent_id": "a"}}, {"metadata.agent_id": "staff.id"}) == {
        "staff": {"id": "a"}
    }


def test_a_path_through_a_value_that_is_not_an_object_is_not_applied() -> None:
    """Odd input is left for validation to judge, never lost and never an exception."""
    assert derive({"metadata": "text"}, _RENAME) == {"metadata": "text"}
    odd = {"metadata": {"agent_id": "a"}, "staff": 5}
    assert derive(odd, {"metadata.agent_id": "staff.id"}) == odd


def test_a_top_level_rename_overwrites_the_target() -> None:
    assert derive({"a": 1, "b": 2}, {"a": "b"}) == {"b": 1}


@given(
    st.dictionaries(
        st.sampled_from(["agent_id", "campaign_id", "other"]),
        st.one_of(st.text(max_size=3), st.integers(), st.none()),
    )
)
def test_values_are_kept_whatever_the_metadata(metadata: dict[str, Any]) -> None:
    """Every value of the record is still there after the rename, under one name or the other."""
    record = {"interaction_id": "x", "metadata": metadata}
    derived = derive(record, _RENAME)
    moved = derived.get("metadata", {})
    assert sorted(map(repr, moved.values())) == sorted(map(repr, metadata.values()))
    assert ("staff_id" in moved) == ("agent_id" in metadata)
    assert "agent_id" not in moved
