"""Validator: fast accept, every reason on reject, uuid format, paths and rules."""

from __future__ import annotations

import copy
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from producer.contracts.registry import DRAFT_07, Contract, load_contracts, select_contract
from producer.contracts.validate import Validator, json_path
from producer.issues import Issue
from producer.settings import default_contracts_dir

UUID = "550e8400-e29b-41d4-a716-446655440000"
VALID: dict[str, Any] = {
    "interaction_id": UUID,
    "channel_type": "voice",
    "duration_seconds": 312,
    "caller_number": "+13175550100",
    "metadata": {"campaign_id": "c-1", "agent_id": "a-1"},
}


def _telephony() -> Validator:
    return Validator(select_contract(load_contracts(default_contracts_dir()), "telephony", "1.0"))


def _inline(schema: dict[str, Any]) -> Validator:
    contract = Contract(
        domain="test",
        version="1.0",
        major=1,
        minor=0,
        owner_role="r",
        destination="d",
        description="",
        schema={"$schema": DRAFT_07, **schema},
        defaults={},
        path=Path("inline.json"),
    )
    return Validator(contract)


def _rules(issues: list[Issue]) -> list[tuple[str, str]]:
    return [(issue.path, issue.rule) for issue in issues]


def test_valid_record_has_no_issues() -> None:
    """A record satisfying the contract gives [] (minimal and full forms, extra fields open)."""
    validator = _telephony()
    assert validator.check(VALID) == []
    minimal = {"interaction_id": UUID, "channel_type": "chat", "duration_seconds": 0}
    assert validator.check(minimal) == []
    assert validator.check({**minimal, "added_in_a_minor": "x"}) == []


def test_every_problem_is_reported_with_path_and_rule() -> None:
    """A record with three problems yields three issues, each with its JSON path and keyword."""
    record = {
        **VALID,
        "interaction_id": "not-a-uuid",
        "duration_seconds": -4,
        "metadata": {"agent_id": 7},
    }
    issues = _telephony().check(record)
    assert sorted(_rules(issues)) == [
        ("$.duration_seconds", "minimum"),
        ("$.interaction_id", "format"),
        ("$.metadata.agent_id", "type"),
    ]
    assert all(issue.message for issue in issues)


def test_missing_required_fields_point_at_the_field() -> None:
    """Each missing required field is its own issue whose path names the field."""
    issues = _telephony().check({"caller_number": "tel:+1"})
    assert sorted(_rules(issues)) == [
        ("$.caller_number", "pattern"),
        ("$.channel_type", "required"),
        ("$.duration_seconds", "required"),
        ("$.interaction_id", "required"),
    ]


def test_uuid_format_is_enforced() -> None:
    """format: uuid rejects non-UUIDs (also with a trailing newline) and accepts any case."""
    validator = _telephony()
    base = {"channel_type": "voice", "duration_seconds": 1}
    assert validator.check({**base, "interaction_id": UUID.upper()}) == []
    for bad in ("x", UUID + "\n", UUID[:-1], UUID.replace("-", ""), "{" + UUID + "}"):
        issues = validator.check({**base, "interaction_id": bad})
        assert _rules(issues) == [("$.interaction_id", "format")], bad
    issues = validator.check({**base, "interaction_id": 5})
    assert _rules(issues) == [("$.interaction_id", "type")]


def test_pattern_dollar_means_end_of_string() -> None:
    """caller_number with a trailing newline is rejected, and the explanation agrees."""
    issues = _telephony().check({**VALID, "caller_number": "+13175550100\n"})
    assert _rules(issues) == [("$.caller_number", "pattern")]


def test_enum_and_type_rules() -> None:
    """Email channels and string durations are rejected by the enum and type keywords."""
    issues = _telephony().check({**VALID, "channel_type": "email", "duration_seconds": "3"})
    assert sorted(_rules(issues)) == [("$.channel_type", "enum"), ("$.duration_seconds", "type")]


def test_check_neither_mutates_nor_fills_defaults() -> None:
    """Validation leaves the record untouched, even when the schema declares defaults."""
    validator = _inline({"type": "object", "properties": {"a": {"type": "string", "default": "z"}}})
    record: dict[str, Any] = {"b": 1}
    assert validator.check(record) == []
    assert record == {"b": 1}
    full = copy.deepcopy(VALID)
    _telephony().check(full)
    assert full == VALID


def test_any_mapping_is_accepted() -> None:
    """A read-only Mapping is checked like a dict."""
    assert _telephony().check(MappingProxyType(VALID)) == []


def test_array_items_get_index_paths() -> None:
    """Problems inside arrays are located with [index] paths."""
    validator = _inline(
        {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}}}
    )
    assert _rules(validator.check({"tags": ["a", 2, "c", None]})) == [
        ("$.tags[1]", "type"),
        ("$.tags[3]", "type"),
    ]


def test_falls_back_to_the_compiled_message_when_the_explainer_is_silent() -> None:
    """A format only fastjsonschema checks (uri) still yields an issue with path and rule."""
    validator = _inline(
        {"type": "object", "properties": {"link": {"type": "string", "format": "uri"}}}
    )
    issues = validator.check({"link": "not a uri"})
    assert _rules(issues) == [("$.link", "format")]
    assert issues[0].message


def test_long_messages_are_truncated() -> None:
    """An issue quoting a huge value stays short."""
    issues = _telephony().check({**VALID, "caller_number": "x" * 10_000})
    assert _rules(issues) == [("$.caller_number", "pattern")]
    assert len(issues[0].message) <= 300


def test_json_path_formats_keys_and_indexes() -> None:
    """Paths read like JSONPath: dotted names, [i] indexes, quoted odd keys."""
    assert json_path([]) == "$"
    assert json_path(["metadata", "agent_id"]) == "$.metadata.agent_id"
    assert json_path(["items", 0, "x-y"]) == "$.items[0].x-y"
    assert json_path(["a b"]) == "$['a b']"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_FIELDS = st.sampled_from(
    ["interaction_id", "channel_type", "duration_seconds", "caller_number", "metadata", "x"]
)


_VALIDATOR = _telephony()


@settings(max_examples=100, deadline=None, database=None)
@given(st.dictionaries(_FIELDS, _JSON | st.just(UUID) | st.just("voice"), max_size=6))
def test_check_never_raises_on_any_object(record: dict[str, Any]) -> None:
    """Any JSON object gets a list of located issues; [] only for a plausible record."""
    issues = _VALIDATOR.check(record)
    assert all(isinstance(issue, Issue) and issue.path.startswith("$") for issue in issues)
    if not issues:
        assert isinstance(record.get("duration_seconds"), int)
