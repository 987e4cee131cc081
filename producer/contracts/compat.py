"""Step 4, validate (change control): the rules of ``contracts check``. Pure: no files, git or lake.

Owns what "compatible" means within a major: every later minor may only change annotations and add
optional fields that carry a default, so records of any minor, projected (unknown fields dropped,
defaults filled), satisfy every other minor of the major. Everything else is a ``Breach`` naming
field, rule and versions; a new major may break freely. Also the immutability of released versions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from producer.contracts.registry import Contract, contract_document
from producer.contracts.schema_diff import ANNOTATIONS, diff_schemas

__all__ = [
    "ANNOTATIONS",
    "RULES",
    "Breach",
    "check_contracts",
    "compare",
    "released_changes",
]

RULES: Mapping[str, str] = {
    "removed": "a field of the earlier version is gone",
    "renamed": "a field is gone and one with the same schema appeared beside it",
    "retyped": "a field's type changed",
    "type_narrowed": "a field accepts fewer types (old records may be refused)",
    "type_widened": "a field accepts more types (old consumers may get a type they refuse)",
    "enum_narrowed": "values were removed from an enum or const",
    "enum_widened": "values were added to an enum, or the enum was dropped",
    "enum_changed": "values were both added to and removed from an enum",
    "range_narrowed": "a bound (minimum, maxLength, ...) got tighter or was added",
    "range_widened": "a bound got looser or was removed",
    "range_changed": "multipleOf changed to an unrelated step",
    "pattern_narrowed": "a pattern was added",
    "pattern_widened": "a pattern was removed",
    "pattern_changed": "a pattern changed (regex containment is not decided: any change breaks)",
    "format_narrowed": "a format was added",
    "format_widened": "a format was removed",
    "format_changed": "a format changed",
    "made_required": "an optional field became required",
    "made_optional": "a required field became optional (old consumers rely on it)",
    "added_required": "a new field is required (old records do not have it)",
    "added_without_default": "a new optional field has no default in 'defaults'",
    "added_to_constrained_object": "a field was added to an object that refuses or limits "
    "undeclared fields (additionalProperties: false, maxProperties, patternProperties, ...)",
    "closed": "additionalProperties became false (raw old records with extra fields fail)",
    "changed": "another validation keyword changed (allOf, $ref, items, ...)",
    "default_changed": "the default of an optional field changed",
    "default_removed": "the default of an optional field was removed",
    "destination_changed": "the destination (the product's prefix) changed within a major",
    "rename_changed": "the fields renamed from the mapper's record ('rename') changed within a "
    "major (records of its minors would be derived differently)",
    "version_gap": "the minors of a major must be N.0, N.1, N.2, ... without gaps",
    "released_removed": "a released version file was deleted",
    "released_changed": "a released version file changed (published versions are immutable)",
    "schema_changed_without_bump": "the schema of a released version changed: needs a new version",
}
"""Every rule ``contracts check`` can report, with what it means (docs/contracts.md lists them)."""


@dataclass(frozen=True)
class Breach:
    """One reason a set of contracts is not acceptable.

    ``field`` is a dotted path into the record (``metadata.agent_id``; ``tags[]`` for array
    items; ``""`` for the contract as a whole); ``rule`` is a key of ``RULES``. For released
    versions ``old_version == new_version``.
    """

    domain: str
    old_version: str
    new_version: str
    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        versions = (
            self.old_version
            if self.old_version == self.new_version
            else f"{self.old_version} -> {self.new_version}"
        )
        where = f"field {self.field}" if self.field else "contract"
        return f"{self.domain} {versions}: {where}: {self.rule}: {self.message}"


def compare(old: Contract, new: Contract) -> list[Breach]:
    """Why ``new`` is not a compatible later minor of ``old`` (``[]``: it is).

    Compatible means: only annotations changed, and every added field is optional and has a
    default in ``new.defaults``; defaults of ``old`` are kept; the destination and the renames
    from the mapper's record are the same. Both
    contracts should be of the same domain and major (a new major may break: do not compare it).
    """
    changes = diff_schemas(old.schema, new.schema, new_defaults=new.defaults)
    breaches = [_breach(old, new, c.field, c.rule, c.message) for c in changes]
    if old.destination != new.destination:
        message = f"{old.destination!r} -> {new.destination!r} within a major"
        breaches.insert(0, _breach(old, new, "", "destination_changed", message))
    if dict(old.rename) != dict(new.rename):
        message = f"{_show(dict(old.rename))} -> {_show(dict(new.rename))} within a major"
        breaches.insert(0, _breach(old, new, "", "rename_changed", message))
    removed = {b.field for b in breaches if b.rule in ("removed", "renamed")}
    for name, value in old.defaults.items():
        if any(name == gone or name.startswith(gone + ".") for gone in removed):
            continue
        if name not in new.defaults:
            message = f"default {_show(value)} is gone"
            breaches.append(_breach(old, new, name, "default_removed", message))
        elif _canonical(new.defaults[name]) != _canonical(value):
            message = f"{_show(value)} -> {_show(new.defaults[name])}"
            breaches.append(_breach(old, new, name, "default_changed", message))
    return breaches


def check_contracts(contracts: Mapping[str, Sequence[Contract]]) -> list[Breach]:
    """Every breach among ``contracts`` (domain -> versions), majors checked independently.

    Within each major the minors must run N.0, N.1, ... without gaps, and every minor is compared
    with every earlier minor of its major (not only its predecessor). Different majors are not
    compared: a major bump is how a breaking change is made.
    """
    breaches: list[Breach] = []
    for domain in sorted(contracts):
        ordered = sorted(contracts[domain], key=lambda c: (c.major, c.minor))
        for _, group in groupby(ordered, key=lambda c: c.major):
            versions = list(group)
            breaches.extend(_gaps(domain, versions))
            for index, new in enumerate(versions):
                for old in versions[:index]:
                    breaches.extend(compare(old, new))
    return breaches


def released_changes(
    released: Mapping[str, Sequence[Contract]],
    current: Mapping[str, Sequence[Contract]],
    ref: str,
) -> list[Breach]:
    """Released versions (those at git ``ref``) that were deleted or changed in ``current``.

    Compares canonical documents (``contract_document``), so formatting and shorthand do not
    count. A changed schema is ``schema_changed_without_bump``; other changed keys are
    ``released_changed``; a deleted file is ``released_removed``.
    """
    now = {(c.domain, c.version): c for versions in current.values() for c in versions}
    breaches: list[Breach] = []
    for domain in sorted(released):
        for old in sorted(released[domain], key=lambda c: (c.major, c.minor)):
            new = now.get((domain, old.version))
            if new is None:
                message = f"{old.version} is released at {ref}; a released version stays"
                breaches.append(_released(old, "released_removed", message))
                continue
            before, after = contract_document(old), contract_document(new)
            changed = sorted(k for k in before if _canonical(before[k]) != _canonical(after[k]))
            for key in changed:
                rule = "schema_changed_without_bump" if key == "schema" else "released_changed"
                hint = "put the change in a new version" if key == "schema" else "immutable"
                message = f"{key!r} differs from the release at {ref} ({hint})"
                breaches.append(_released(old, rule, message))
    return breaches


def _released(contract: Contract, rule: str, message: str) -> Breach:
    return Breach(contract.domain, contract.version, contract.version, "", rule, message)


def _gaps(domain: str, versions: Sequence[Contract]) -> Iterator[Breach]:
    expected = 0
    previous = f"{versions[0].major}.-"
    for contract in versions:
        if contract.minor != expected:
            message = f"expected {contract.major}.{expected} before {contract.version}"
            yield Breach(domain, previous, contract.version, "", "version_gap", message)
        expected = contract.minor + 1
        previous = contract.version


def _breach(old: Contract, new: Contract, field: str, rule: str, message: str) -> Breach:
    return Breach(old.domain, old.version, new.version, field, rule, message)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _show(value: Any) -> str:
    text = _canonical(value) if value is not None else "none"
    return text if len(text) <= 80 else text[:77] + "..."
