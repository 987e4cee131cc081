"""The compatibility gate: every rule both ways, with a witness record showing each breach
really breaks a reader; majors, gaps, released versions. Properties: test_compat_properties.py.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from producer.catalog.consumer import project
from producer.contracts.compat import RULES, check_contracts, compare, released_changes
from producer.contracts.registry import DRAFT_07, Contract, load_contracts
from producer.contracts.validate import Validator
from producer.settings import default_contracts_dir

UUID = "550e8400-e29b-41d4-a716-446655440000"

BASE: dict[str, Any] = {
    "$schema": DRAFT_07,
    "type": "object",
    "required": ["interaction_id", "channel_type", "duration_seconds"],
    "properties": {
        "interaction_id": {"type": "string", "format": "uuid"},
        "channel_type": {"type": "string", "enum": ["voice", "chat"]},
        "duration_seconds": {"type": "integer", "minimum": 0},
        "caller_number": {"type": "string", "pattern": "^\\+?[0-9]+$"},
        "metadata": {
            "type": "object",
            "properties": {"campaign_id": {"type": "string"}, "agent_id": {"type": "string"}},
        },
    },
}
RECORD: dict[str, Any] = {
    "interaction_id": UUID,
    "channel_type": "voice",
    "duration_seconds": 12,
    "caller_number": "+3175550100",
    "metadata": {"agent_id": "a-1"},
}


def contract(
    version: str,
    schema: dict[str, Any],
    defaults: dict[str, Any] | None = None,
    *,
    domain: str = "telephony",
    destination: str = "telephony-cdr-export",
    description: str = "",
) -> Contract:
    """An in-memory contract (what load_contracts would give for such a file)."""
    major, minor = (int(part) for part in version.split("."))
    return Contract(
        domain=domain,
        version=version,
        major=major,
        minor=minor,
        owner_role="Telephony_Admin",
        destination=destination,
        description=description,
        schema=schema,
        defaults=defaults or {},
        path=Path(f"{domain}/{version}.json"),
    )


def changed(edit: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """A deep copy of BASE with ``edit`` applied."""
    schema = copy.deepcopy(BASE)
    edit(schema)
    return schema


def props(schema: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = schema["properties"]
    return found


def valid(record: dict[str, Any], against: Contract) -> bool:
    return Validator(against).check(record) == []


@dataclass(frozen=True)
class Case:
    """A change from BASE (1.0) to 1.1 and the rules ``compare`` must report (none: compatible).

    A breaking case names a witness: a record valid under one version that, projected to the
    other (``direction`` "old->new": a 1.1 consumer reading a 1.0 record; "new->old": a 1.0
    consumer reading a 1.1 record; "raw": a reader that validates lines without projecting
    them), is refused. That shows the rule guards a real break.
    """

    edit: Callable[[dict[str, Any]], object]
    rules: frozenset[str] = frozenset()
    defaults: dict[str, Any] = field(default_factory=dict)
    witness: dict[str, Any] | None = None
    direction: str = "old->new"


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(schema: dict[str, Any]) -> None:
        node = schema
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return edit


def _drop(path: tuple[str, ...]) -> Callable[[dict[str, Any]], None]:
    def edit(schema: dict[str, Any]) -> None:
        node = schema
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return edit


def _rename_agent(schema: dict[str, Any]) -> None:
    meta = props(schema)["metadata"]["properties"]
    meta["staff_id"] = meta.pop("agent_id")


def _add_staff(schema: dict[str, Any]) -> None:
    props(schema)["metadata"]["properties"]["staff_id"] = {"type": "string"}


def _require(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda schema: schema["required"].append(name)


_P = ("properties",)
_WITH_QUEUE = {"type": "string", "description": "queue"}
CASES: dict[str, Case] = {
    # adding an optional field: fine with a default, breaking without one or when required
    "add optional with default": Case(_set((*_P, "queue"), _WITH_QUEUE), defaults={"queue": ""}),
    "add optional without default": Case(
        _set((*_P, "queue"), _WITH_QUEUE), frozenset({"added_without_default"})
    ),
    "add required field": Case(
        lambda s: (_set((*_P, "queue"), _WITH_QUEUE)(s), _require("queue")(s)),
        frozenset({"added_required"}),
        witness=RECORD,
    ),
    "add nested optional with default": Case(_add_staff, defaults={"metadata.staff_id": ""}),
    "add nested optional without default": Case(_add_staff, frozenset({"added_without_default"})),
    # annotations are free
    "descriptions and titles change": Case(
        lambda s: (
            _set((*_P, "duration_seconds", "description"), "rounded")(s),
            _set(("title",), "telephony 1.1")(s),
        )
    ),
    "type spelt as a list": Case(_set((*_P, "duration_seconds", "type"), ["integer"])),
    "enum reordered": Case(_set((*_P, "channel_type", "enum"), ["chat", "voice"])),
    # removing and renaming
    "remove a field": Case(
        _drop((*_P, "caller_number")),
        frozenset({"removed"}),
        witness={**RECORD, "caller_number": 5},
        direction="new->old",
    ),
    "rename agent_id to staff_id": Case(
        _rename_agent,
        frozenset({"renamed"}),
        defaults={},
        witness={**RECORD, "metadata": {"agent_id": 7}},
        direction="new->old",
    ),
    "keep agent_id, add staff_id with default": Case(
        _add_staff, defaults={"metadata.staff_id": "unknown"}
    ),
    # types
    "retype integer to string": Case(
        _set((*_P, "duration_seconds", "type"), "string"), frozenset({"retyped"}), witness=RECORD
    ),
    "integer to number": Case(
        _set((*_P, "duration_seconds", "type"), "number"),
        frozenset({"type_widened"}),
        witness={**RECORD, "duration_seconds": 1.5},
        direction="new->old",
    ),
    # enums
    "enum narrowed": Case(
        _set((*_P, "channel_type", "enum"), ["voice"]),
        frozenset({"enum_narrowed"}),
        witness={**RECORD, "channel_type": "chat"},
    ),
    "enum widened": Case(
        _set((*_P, "channel_type", "enum"), ["voice", "chat", "email"]),
        frozenset({"enum_widened"}),
        witness={**RECORD, "channel_type": "email"},
        direction="new->old",
    ),
    "enum changed": Case(
        _set((*_P, "channel_type", "enum"), ["voice", "email"]), frozenset({"enum_changed"})
    ),
    "enum added to a free string": Case(
        _set((*_P, "metadata", "properties", "campaign_id", "enum"), ["c1"]),
        frozenset({"enum_narrowed"}),
        witness={**RECORD, "metadata": {"campaign_id": "c2"}},
    ),
    # patterns and formats
    "pattern narrowed": Case(
        _set((*_P, "metadata", "properties", "agent_id", "pattern"), "^a-"),
        frozenset({"pattern_narrowed"}),
        witness={**RECORD, "metadata": {"agent_id": "b"}},
    ),
    "pattern changed": Case(
        _set((*_P, "caller_number", "pattern"), "^[0-9]+$"),
        frozenset({"pattern_changed"}),
        witness=RECORD,
    ),
    "pattern removed": Case(
        _drop((*_P, "caller_number", "pattern")),
        frozenset({"pattern_widened"}),
        witness={**RECORD, "caller_number": "sip:x"},
        direction="new->old",
    ),
    "format added": Case(
        _set((*_P, "metadata", "properties", "agent_id", "format"), "uuid"),
        frozenset({"format_narrowed"}),
        witness=RECORD,
    ),
    # ranges
    "minimum raised": Case(
        _set((*_P, "duration_seconds", "minimum"), 1),
        frozenset({"range_narrowed"}),
        witness={**RECORD, "duration_seconds": 0},
    ),
    "minimum lowered": Case(
        _set((*_P, "duration_seconds", "minimum"), -1),
        frozenset({"range_widened"}),
        witness={**RECORD, "duration_seconds": -1},
        direction="new->old",
    ),
    "maximum added": Case(
        _set((*_P, "duration_seconds", "maximum"), 10),
        frozenset({"range_narrowed"}),
        witness=RECORD,
    ),
    "maxLength added": Case(
        _set((*_P, "caller_number", "maxLength"), 3),
        frozenset({"range_narrowed"}),
        witness=RECORD,
    ),
    "multipleOf added": Case(
        _set((*_P, "duration_seconds", "multipleOf"), 5),
        frozenset({"range_narrowed"}),
        witness=RECORD,
    ),
    # required-ness
    "optional made required": Case(
        _require("caller_number"),
        frozenset({"made_required"}),
        witness={k: v for k, v in RECORD.items() if k != "caller_number"},
    ),
    "required made optional": Case(
        lambda s: s["required"].remove("channel_type"),
        frozenset({"made_optional"}),
        witness={k: v for k, v in RECORD.items() if k != "channel_type"},
        direction="new->old",
    ),
    # open and closed objects, other keywords
    "closed": Case(
        _set(("additionalProperties",), False),
        frozenset({"closed"}),
        witness={**RECORD, "extra": 1},
        direction="old->new raw",
    ),
    "opened": Case(_set(("additionalProperties",), True)),
    "other keyword changed": Case(
        _set(("allOf",), [{"required": ["caller_number"]}]), frozenset({"changed"})
    ),
    "items changed": Case(
        _set((*_P, "tags"), {"type": "array", "items": {"type": "string"}}),
        frozenset({"added_without_default"}),
    ),
}


class TestRules:
    @pytest.mark.parametrize("name", sorted(CASES))
    def test_rule(self, name: str) -> None:
        """Each change from 1.0 to 1.1 reports exactly its rules (none for compatible ones)."""
        case = CASES[name]
        new = contract("1.1", changed(case.edit), case.defaults)
        found = compare(contract("1.0", BASE), new)
        assert {b.rule for b in found} == case.rules, [str(b) for b in found]
        assert all(b.rule in RULES for b in found)

    @pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.witness))
    def test_breaking_rule_has_a_witness(self, name: str) -> None:
        """A reported breach is real: its witness record is refused after projection."""
        case = CASES[name]
        assert case.witness is not None
        old = contract("1.0", BASE)
        new = contract("1.1", changed(case.edit), case.defaults)
        source, target = (old, new) if case.direction.startswith("old->new") else (new, old)
        assert valid(case.witness, source)
        seen = case.witness if case.direction.endswith("raw") else project(case.witness, target)
        assert not valid(seen, target)

    def test_type_narrowed(self) -> None:
        """Dropping "null" from a type list narrows it; adding it back widens it."""
        nullable = changed(_set((*_P, "caller_number", "type"), ["string", "null"]))
        assert [b.rule for b in compare(contract("1.0", nullable), contract("1.1", BASE))] == [
            "type_narrowed"
        ]
        assert [b.rule for b in compare(contract("1.0", BASE), contract("1.1", nullable))] == [
            "type_widened"
        ]

    def test_defaults_are_part_of_the_contract(self) -> None:
        """A default, once given, keeps its value: changing or removing it breaks."""
        schema = changed(_set((*_P, "queue"), {"type": "string"}))
        first = contract("1.1", schema, {"queue": "none"})
        assert compare(first, contract("1.2", schema, {"queue": "none"})) == []
        assert [b.rule for b in compare(first, contract("1.2", schema, {"queue": "x"}))] == [
            "default_changed"
        ]
        assert [b.rule for b in compare(first, contract("1.2", schema, {}))] == ["default_removed"]

    def test_destination_is_fixed_within_a_major(self) -> None:
        """Moving the product to another prefix within a major breaks its consumers."""
        moved = contract("1.1", BASE, destination="elsewhere")
        assert [b.rule for b in compare(contract("1.0", BASE), moved)] == ["destination_changed"]
        assert compare(contract("1.0", BASE), contract("1.1", BASE)) == []

    def test_renames_from_the_mappers_record_are_fixed_within_a_major(self) -> None:
        """A minor that derives its records differently breaks; the same renames do not."""
        schema = changed(_rename_agent)
        rename = {"metadata.agent_id": "metadata.staff_id"}
        first = dataclasses.replace(contract("2.0", schema), rename=rename)
        same = dataclasses.replace(contract("2.1", schema), rename=dict(rename))
        assert compare(first, same) == []
        for other in ({}, {"metadata.campaign_id": "metadata.staff_id"}):
            moved = dataclasses.replace(contract("2.1", schema), rename=other)
            assert [b.rule for b in compare(first, moved)] == ["rename_changed"]
            assert [b.rule for b in compare(moved, first)] == ["rename_changed"]

    def test_breach_names_field_rule_and_versions(self) -> None:
        """The printed line says which field, which rule, which versions."""
        new = contract("1.1", changed(_rename_agent))
        (breach,) = compare(contract("1.0", BASE), new)
        text = str(breach)
        assert text.startswith("telephony 1.0 -> 1.1: field metadata.agent_id: renamed: ")
        assert "'staff_id'" in text


class TestCheckContracts:
    def test_majors_may_break_minors_may_not(self) -> None:
        """The guide's Edge Case 2: agent_id -> staff_id is refused as 1.1, accepted as 2.0."""
        renamed = changed(_rename_agent)
        as_minor = check_contracts({"telephony": [contract("1.0", BASE), contract("1.1", renamed)]})
        assert [(b.field, b.rule, b.old_version, b.new_version) for b in as_minor] == [
            ("metadata.agent_id", "renamed", "1.0", "1.1")
        ]
        as_major = check_contracts({"telephony": [contract("1.0", BASE), contract("2.0", renamed)]})
        assert as_major == []

    def test_every_minor_is_checked_against_every_earlier_minor(self) -> None:
        """1.2 is compared with 1.0 too, not only with 1.1."""
        v11 = changed(_set((*_P, "queue"), {"type": "string"}))
        v12 = copy.deepcopy(v11)
        del v12["properties"]["queue"]  # 1.2 drops what 1.1 added: a removal against 1.1
        found = check_contracts(
            {
                "telephony": [
                    contract("1.0", BASE),
                    contract("1.1", v11, {"queue": ""}),
                    contract("1.2", v12),
                ]
            }
        )
        assert [(b.old_version, b.new_version, b.rule) for b in found] == [
            ("1.1", "1.2", "removed")
        ]

    def test_minors_must_not_have_gaps(self) -> None:
        """1.0 then 1.2 is a gap; a major that starts at 3.1 is one too."""
        found = check_contracts(
            {"telephony": [contract("1.0", BASE), contract("1.2", BASE), contract("3.1", BASE)]}
        )
        assert [(b.rule, b.new_version) for b in found] == [
            ("version_gap", "1.2"),
            ("version_gap", "3.1"),
        ]

    def test_shipped_contracts_pass(self) -> None:
        """Every contract in config/contracts passes the gate."""
        assert check_contracts(load_contracts(default_contracts_dir())) == []


class TestReleased:
    def test_unchanged_release_and_new_versions_pass(self) -> None:
        """Adding versions next to untouched released ones is fine."""
        released = {"telephony": [contract("1.0", BASE)]}
        current = {"telephony": [contract("1.0", BASE), contract("2.0", BASE)]}
        assert released_changes(released, current, "origin/main") == []

    def test_schema_change_without_bump(self) -> None:
        """Changing the schema of a released version in place is refused."""
        released = {"telephony": [contract("1.0", BASE)]}
        edited = {"telephony": [contract("1.0", changed(_set((*_P, "x"), {"type": "string"})))]}
        (breach,) = released_changes(released, edited, "origin/main")
        assert (breach.rule, breach.old_version) == ("schema_changed_without_bump", "1.0")
        assert "origin/main" in str(breach)

    def test_other_content_and_removal(self) -> None:
        """Any other edit of a released file, and deleting one, is refused too."""
        released = {"telephony": [contract("1.0", BASE), contract("1.1", BASE)]}
        current = {"telephony": [contract("1.0", BASE, description="typo fixed")]}
        found = released_changes(released, current, "v1")
        assert [(b.old_version, b.new_version, b.rule) for b in found] == [
            ("1.0", "1.0", "released_changed"),
            ("1.1", "1.1", "released_removed"),
        ]

    def test_annotation_only_schema_edit_still_counts(self) -> None:
        """Even a description inside a released schema is immutable (the bytes consumers fetch)."""
        released = {"telephony": [contract("1.0", BASE)]}
        edited = changed(_set((*_P, "duration_seconds", "description"), "now documented"))
        (breach,) = released_changes(released, {"telephony": [contract("1.0", edited)]}, "r")
        assert breach.rule == "schema_changed_without_bump"
