"""Property tests of the compatibility gate: "compatible" means what it says.

For random schemas and random edits (hypothesis), whenever ``compare`` finds a new minor
compatible, random records of either minor, projected to the other one (unknown fields dropped,
defaults filled), validate there: no consumer of the major can break. Run per kind of edit, so
every rule is exercised; a rule taken out of the gate makes these tests fail.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from fastjsonschema import JsonSchemaValueException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producer.catalog.consumer import project
from producer.contracts.compat import compare
from producer.contracts.registry import DRAFT_07, Contract, compile_schema


def contract(
    version: str, schema: dict[str, Any], defaults: dict[str, Any] | None = None
) -> Contract:
    """An in-memory telephony contract (what load_contracts would give for such a file)."""
    major, minor = (int(part) for part in version.split("."))
    return Contract(
        domain="telephony",
        version=version,
        major=major,
        minor=minor,
        owner_role="Telephony_Admin",
        destination="telephony-cdr-export",
        description="",
        schema=schema,
        defaults=defaults or {},
        path=Path(f"telephony/{version}.json"),
    )


_NAMES = ("a", "b", "c", "d", "e")
_PATTERNS = ("^[a-z]+$", "^\\+?[0-9]+$", "^[A-Z]{2}$")


def _leaf() -> st.SearchStrategy[dict[str, Any]]:
    strings = st.one_of(
        st.just({"type": "string"}),
        st.lists(st.sampled_from(["x", "y", "z", "w"]), min_size=1, max_size=3, unique=True).map(
            lambda values: {"type": "string", "enum": values}
        ),
        st.sampled_from(_PATTERNS).map(lambda p: {"type": "string", "pattern": p}),
        st.just({"type": "string", "format": "uuid"}),
    )
    integers = st.tuples(st.integers(-5, 5), st.integers(0, 10)).map(
        lambda lo_span: {"type": "integer", "minimum": lo_span[0], "maximum": sum(lo_span)}
    )
    others = st.sampled_from([{"type": "boolean"}, {"type": "number"}, {"type": "integer"}])
    return st.one_of(strings, integers, others)


def _object(leaves: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(_NAMES), leaves, min_size=1, max_size=4).flatmap(
        lambda properties: st.sets(st.sampled_from(sorted(properties))).map(
            lambda required: {
                "type": "object",
                "properties": properties,
                **({"required": sorted(required)} if required else {}),
            }
        )
    )


def _schemas() -> st.SearchStrategy[dict[str, Any]]:
    nested = _object(_leaf())
    return _object(st.one_of(_leaf(), _leaf(), nested)).map(
        lambda schema: {"$schema": DRAFT_07, **schema}
    )


def _values(schema: dict[str, Any]) -> st.SearchStrategy[Any]:  # noqa: PLR0911 -- one per kind
    """Records valid under ``schema`` (the subset the generators above produce), declared only."""
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {name: _values(properties[name]) for name in properties if name in required},
            optional={
                name: _values(properties[name]) for name in properties if name not in required
            },
        )
    if kind == "string":
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        if "pattern" in schema:
            return st.from_regex(schema["pattern"].strip("^$"), fullmatch=True)
        if schema.get("format") == "uuid":
            return st.uuids().map(str)
        return st.text(max_size=5)
    if kind == "integer":
        return st.integers(schema.get("minimum", -100), schema.get("maximum", 100))
    if kind == "number":
        return st.one_of(st.integers(-100, 100), st.floats(-100, 100, allow_nan=False))
    return st.booleans()


def _objects(schema: dict[str, Any]) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every object node of ``schema`` with its path of property names."""
    found: list[tuple[tuple[str, ...], dict[str, Any]]] = [((), schema)]
    for name, child in schema.get("properties", {}).items():
        if child.get("type") == "object":
            found.extend(((name, *path), node) for path, node in _objects(child))
    return found


@st.composite
def _evolutions(draw: st.DrawFn, edits: tuple[str, ...]) -> tuple[Contract, Contract]:
    """A 1.0 and a 1.1 made from it by one to three random ``edits``, compatible or not."""
    old_schema = draw(_schemas())
    schema = copy.deepcopy(old_schema)
    defaults: dict[str, Any] = {}
    for _ in range(draw(st.sampled_from((1, 1, 2, 3)))):
        path, node = draw(st.sampled_from(_objects(schema)))
        if node["properties"]:
            _edit(draw, draw(st.sampled_from(edits)), path, node, defaults)
        if not node.get("required", True):
            del node["required"]
    # Only contracts that load: a later edit may have made an earlier default invalid.
    defaults = {k: v for k, v in defaults.items() if _default_fits(schema, k, v)}
    return contract("1.0", old_schema), contract("1.1", schema, defaults)


def _edit(
    draw: st.DrawFn,
    edit: str,
    path: tuple[str, ...],
    node: dict[str, Any],
    defaults: dict[str, Any],
) -> None:
    """Apply ``edit`` to a random field of the object ``node`` (at ``path``), in place."""
    properties: dict[str, Any] = node["properties"]
    required: list[str] = node.setdefault("required", [])
    name = draw(st.sampled_from(sorted(properties)))
    field = properties[name]
    if edit in {"add_optional", "add_without_default", "rename"}:
        new_name = draw(st.sampled_from(("f", "g", "h")))
        if new_name in properties:
            return
        properties[new_name] = properties.pop(name) if edit == "rename" else draw(_leaf())
        if edit == "add_optional":
            defaults[".".join((*path, new_name))] = draw(_values(properties[new_name]))
    elif edit == "remove":
        del properties[name]
    elif edit == "replace" and field.get("type") != "object":
        properties[name] = draw(_leaf())
    elif edit == "type_only" and field.get("type") != "object":
        field["type"] = draw(st.sampled_from(("string", "integer", "number", "boolean")))
    elif edit == "enum" and field.get("type") == "string":
        values = set(field.get("enum", ()))
        changed_value = draw(st.sampled_from(("x", "y", "z", "w")))
        field["enum"] = sorted(values ^ {changed_value}) or ["x"]
    elif edit == "bounds" and field.get("type") == "integer":
        bound = draw(st.sampled_from(("minimum", "maximum")))
        field[bound] = field.get(bound, 0) + draw(st.sampled_from((-1, 1, 2)))
    elif edit == "pattern" and field.get("type") == "string" and "enum" not in field:
        pattern = draw(st.sampled_from((None, *_PATTERNS)))
        field.pop("format", None)
        field.pop("pattern", None) if pattern is None else field.update(pattern=pattern)
    elif edit == "toggle_required":
        required.remove(name) if name in required else required.append(name)
    elif edit == "describe":
        field["description"] = draw(st.text(max_size=5))
    elif edit == "open":
        node["additionalProperties"] = draw(st.booleans())
    node["required"] = [n for n in required if n in properties]


def _default_fits(schema: dict[str, Any], dotted: str, value: Any) -> bool:
    node = schema
    for part in dotted.split("."):
        node = node.get("properties", {}).get(part)
        if node is None:
            return False
    return valid_against(node, value)


def valid_against(schema: Mapping[str, Any], value: Any) -> bool:
    """Whether ``value`` satisfies ``schema`` (fastjsonschema, as the producer checks it)."""
    try:
        compile_schema({"$schema": DRAFT_07, **schema})(value)
    except JsonSchemaValueException:
        return False
    return True


_EDITS = (
    "add_optional",
    "add_without_default",
    "rename",
    "remove",
    "replace",
    "type_only",
    "enum",
    "bounds",
    "pattern",
    "toggle_required",
    "describe",
    "open",
)
_PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
_PER_EDIT_SETTINGS = settings(_PROPERTY_SETTINGS, max_examples=15)


def _assert_projections_fit(old: Contract, new: Contract, data: st.DataObject) -> None:
    """Records of either version, projected to the other, are valid there."""
    if compare(old, new):
        return
    for old_record in data.draw(st.lists(_values(dict(old.schema)), min_size=1, max_size=8)):
        assert valid_against(old.schema, old_record)
        assert valid_against(new.schema, project(old_record, new)), old_record
    for new_record in data.draw(st.lists(_values(dict(new.schema)), min_size=1, max_size=8)):
        assert valid_against(new.schema, new_record)
        assert valid_against(old.schema, project(new_record, old)), new_record


class TestProperties:
    @pytest.mark.parametrize("edit", _EDITS)
    def test_compatible_means_projected_records_stay_valid(self, edit: str) -> None:
        """When check says compatible, records of either minor, projected, fit the other one.

        Old records read by a 1.1 consumer (defaults filled) and 1.1 records read by a 1.0
        consumer (unknown fields dropped) both validate: no consumer of the major breaks. Run
        per kind of edit, so every rule is exercised.
        """

        @_PER_EDIT_SETTINGS
        @given(pair=_evolutions((edit,)), data=st.data())
        def check(pair: tuple[Contract, Contract], data: st.DataObject) -> None:
            _assert_projections_fit(*pair, data)

        check()

    @_PROPERTY_SETTINGS
    @given(pair=_evolutions(_EDITS), data=st.data())
    def test_mixed_edits_keep_projected_records_valid(
        self, pair: tuple[Contract, Contract], data: st.DataObject
    ) -> None:
        """The same property when several kinds of edits are combined in one new minor."""
        _assert_projections_fit(*pair, data)

    @_PROPERTY_SETTINGS
    @given(schema=_schemas())
    def test_a_version_is_compatible_with_itself_and_with_annotations(
        self, schema: dict[str, Any]
    ) -> None:
        """Identical schemas, or ones differing only in titles and descriptions, are compatible."""
        annotated = json.loads(json.dumps(schema))
        annotated["title"] = "annotated"
        for node in annotated["properties"].values():
            node["description"] = "documented"
        assert compare(contract("1.0", schema), contract("1.1", schema)) == []
        assert compare(contract("1.0", schema), contract("1.1", annotated)) == []

    @_PROPERTY_SETTINGS
    @given(schema=_schemas(), data=st.data())
    def test_removing_or_retyping_a_field_is_always_reported(
        self, schema: dict[str, Any], data: st.DataObject
    ) -> None:
        """Whatever the schema, removing a field or changing its type is never compatible."""
        name = data.draw(st.sampled_from(sorted(schema["properties"])))
        removed = copy.deepcopy(schema)
        del removed["properties"][name]
        removed.pop("required", None)
        rules = {b.rule for b in compare(contract("1.0", schema), contract("1.1", removed))}
        assert rules & {"removed", "renamed"}
        retyped = copy.deepcopy(schema)
        was = schema["properties"][name].get("type")
        retyped["properties"][name] = {"type": "string" if was != "string" else "boolean"}
        assert compare(contract("1.0", schema), contract("1.1", retyped)) != []
