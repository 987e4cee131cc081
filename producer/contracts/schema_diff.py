"""Step 4, validate (change control): the walk of two JSON Schemas behind ``contracts check``.

Owns the field-by-field comparison of an old and a new schema: what changed where (removed,
renamed, retyped, narrowed, widened, made required, added without a default, ...), as ``Change``
values. Pure, no I/O; it does not know versions or domains (``compat.py`` turns changes into
breaches) and treats every change it cannot prove safe as a change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ANNOTATIONS", "Change", "diff_schemas"]

ANNOTATIONS = frozenset(
    {"title", "description", "$comment", "examples", "default", "$schema", "readOnly", "writeOnly"}
)
"""Schema keywords that never change which records are valid: free to change in any version."""

_NUMBER_BOUNDS = {
    # keyword -> +1 when a larger value accepts fewer records (a lower bound), -1 otherwise
    "minimum": 1,
    "exclusiveMinimum": 1,
    "minLength": 1,
    "minItems": 1,
    "minProperties": 1,
    "maximum": -1,
    "exclusiveMaximum": -1,
    "maxLength": -1,
    "maxItems": -1,
    "maxProperties": -1,
}
_LITERALS = frozenset({"enum", "const", "required"})
_NAMED_SCHEMAS = frozenset({"properties", "patternProperties", "definitions", "dependencies"})
_OBJECT_LIMITS = ("maxProperties", "patternProperties", "propertyNames", "dependencies")
_HANDLED = frozenset(
    {
        *ANNOTATIONS,
        *_NUMBER_BOUNDS,
        "type",
        "enum",
        "const",
        "pattern",
        "format",
        "multipleOf",
        "properties",
        "required",
        "additionalProperties",
        "items",
    }
)


@dataclass(frozen=True)
class Change:
    """One difference that matters between two schemas.

    ``field`` is a dotted path (``""`` for the root), ``rule`` a rule name (``compat.RULES``),
    ``message`` what changed, in words.
    """

    field: str
    rule: str
    message: str


@dataclass
class _Changes:
    new_defaults: Mapping[str, Any]
    found: list[Change] = field(default_factory=list)

    def add(self, path: str, rule: str, message: str) -> None:
        self.found.append(Change(path, rule, message))


def diff_schemas(
    old: Mapping[str, Any], new: Mapping[str, Any], *, new_defaults: Mapping[str, Any]
) -> list[Change]:
    """Every change from ``old`` to ``new`` that is not an annotation or a safe addition.

    A safe addition is an optional property whose dotted name has a default in
    ``new_defaults``, in an object that does not refuse or limit undeclared properties.
    """
    changes = _Changes(new_defaults)
    _compare_node(changes, dict(old), dict(new), ())
    return changes.found


def _compare_node(report: _Changes, old: Any, new: Any, path: tuple[str, ...]) -> None:
    if _strip(old) == _strip(new):
        return
    where = _dotted(path)
    if not isinstance(old, dict) or not isinstance(new, dict):
        report.add(where, "changed", f"schema {_show(old)} -> {_show(new)}")
        return
    _compare_types(report, old, new, where)
    _compare_enum(report, old, new, where)
    _compare_bounds(report, old, new, where)
    _compare_marker(report, old, new, where, "pattern")
    _compare_marker(report, old, new, where, "format")
    if any(k in node for node in (old, new) for k in ("properties", "required")):
        _compare_object(report, old, new, path)
    _compare_closed(report, old, new, where)
    if isinstance(old.get("items"), dict) and isinstance(new.get("items"), dict):
        _compare_node(report, old["items"], new["items"], (*path, "[]"))
    elif _strip(old.get("items")) != _strip(new.get("items")):
        report.add(where, "changed", "'items' changed")
    for key in sorted((set(old) | set(new)) - _HANDLED):
        if _strip(old.get(key)) != _strip(new.get(key)):
            report.add(where, "changed", f"{key!r} changed")


def _types(node: Mapping[str, Any]) -> frozenset[str] | None:
    declared = node.get("type")
    if declared is None:
        return None
    names = frozenset([declared] if isinstance(declared, str) else declared)
    # "number" accepts every integer too: compare what the types accept, not how they are spelt.
    return names | {"integer"} if "number" in names else names


def _compare_types(report: _Changes, old: dict[str, Any], new: dict[str, Any], where: str) -> None:
    before, after = _types(old), _types(new)
    if before == after:
        return
    shown = f"type {_show(old.get('type', 'any'))} -> {_show(new.get('type', 'any'))}"
    if after is not None and (before is None or after < before):
        report.add(where, "type_narrowed", shown)
    elif before is not None and (after is None or before < after):
        report.add(where, "type_widened", shown)
    else:
        report.add(where, "retyped", shown)


def _allowed(node: Mapping[str, Any]) -> frozenset[str] | None:
    values: frozenset[str] | None = None
    if isinstance(node.get("enum"), list):
        values = frozenset(_canonical(v) for v in node["enum"])
    if "const" in node:
        const = frozenset({_canonical(node["const"])})
        values = const if values is None else values & const
    return values


def _compare_enum(report: _Changes, old: dict[str, Any], new: dict[str, Any], where: str) -> None:
    before, after = _allowed(old), _allowed(new)
    if before == after:
        return
    if before is None or after is None:
        rule = "enum_narrowed" if before is None else "enum_widened"
        report.add(where, rule, f"enum {_show(_listed(before))} -> {_show(_listed(after))}")
        return
    gone, added = sorted(before - after), sorted(after - before)
    parts = [f"removed {', '.join(gone)}"] if gone else []
    parts += [f"added {', '.join(added)}"] if added else []
    rule = "enum_changed" if gone and added else "enum_narrowed" if gone else "enum_widened"
    report.add(where, rule, "; ".join(parts))


def _compare_bounds(report: _Changes, old: dict[str, Any], new: dict[str, Any], where: str) -> None:
    for key, sign in _NUMBER_BOUNDS.items():
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        shown = f"{key} {_show(before)} -> {_show(after)}"
        numbers = isinstance(before, int | float) and isinstance(after, int | float)
        if after is not None and (before is None or (numbers and (after - before) * sign > 0)):
            report.add(where, "range_narrowed", shown)
        elif before is not None and (after is None or numbers):
            report.add(where, "range_widened", shown)
        else:
            report.add(where, "range_changed", shown)
    before, after = old.get("multipleOf"), new.get("multipleOf")
    if before != after:
        shown = f"multipleOf {_show(before)} -> {_show(after)}"
        if before is None or (after is not None and _divides(before, after)):
            report.add(where, "range_narrowed", shown)
        elif after is None or _divides(after, before):
            report.add(where, "range_widened", shown)
        else:
            report.add(where, "range_changed", shown)


def _divides(step: Any, value: Any) -> bool:
    try:
        quotient = value / step
    except (TypeError, ZeroDivisionError):
        return False
    return bool(abs(quotient - round(quotient)) < 1e-9)


def _compare_marker(
    report: _Changes, old: dict[str, Any], new: dict[str, Any], where: str, key: str
) -> None:
    before, after = old.get(key), new.get(key)
    if before == after:
        return
    kind = "narrowed" if before is None else "widened" if after is None else "changed"
    report.add(where, f"{key}_{kind}", f"{key} {_show(before)} -> {_show(after)}")


def _compare_object(
    report: _Changes, old: dict[str, Any], new: dict[str, Any], path: tuple[str, ...]
) -> None:
    before, after = _properties(old), _properties(new)
    req_before, req_after = set(old.get("required") or ()), set(new.get("required") or ())
    added = [name for name in after if name not in before]
    renamed = _compare_removed(report, before, after, added, path)
    for name in (n for n in before if n in after):
        _compare_node(report, before[name], after[name], (*path, name))
    for name in sorted(req_after - req_before):
        if name not in added:
            report.add(_dotted((*path, name)), "made_required", f"{name!r} is now required")
    for name in sorted(req_before - req_after):
        if name in after:
            report.add(_dotted((*path, name)), "made_optional", f"{name!r} is no longer required")
    limits = [key for key in _OBJECT_LIMITS if key in old]
    if old.get("additionalProperties") is False:
        limits.append("additionalProperties: false")
    for name in (n for n in added if n not in renamed):
        where = _dotted((*path, name))
        if name in req_after:
            report.add(where, "added_required", f"new field {name!r} is required")
        elif where not in report.new_defaults or "[]" in where:
            report.add(where, "added_without_default", f"new field {name!r} needs a default")
        elif limits:
            report.add(where, "added_to_constrained_object", f"the object has {', '.join(limits)}")


def _compare_removed(
    report: _Changes,
    before: dict[str, Any],
    after: dict[str, Any],
    added: list[str],
    path: tuple[str, ...],
) -> set[str]:
    """Report fields gone from ``after``; returns the added names that are their new names."""
    renamed: set[str] = set()
    for name in (n for n in before if n not in after):
        twins = [a for a in added if a not in renamed and _same(before[name], after[a])]
        if len(twins) == 1:
            renamed.add(twins[0])
            message = (
                f"{name!r} became {twins[0]!r}: keep {name!r} (add the new name with a default)"
                " or make the rename in a new major"
            )
            report.add(_dotted((*path, name)), "renamed", message)
        else:
            report.add(_dotted((*path, name)), "removed", f"{name!r} is gone")
    return renamed


def _properties(node: Mapping[str, Any]) -> dict[str, Any]:
    found = node.get("properties")
    return found if isinstance(found, dict) else {}


def _compare_closed(report: _Changes, old: dict[str, Any], new: dict[str, Any], where: str) -> None:
    before, after = old.get("additionalProperties", True), new.get("additionalProperties", True)
    if _strip(before) == _strip(after) or (before is False and after is True):
        return  # opening is safe: projection drops fields a version does not declare
    if after is False:
        report.add(where, "closed", "additionalProperties: false refuses fields it accepted")
    else:
        report.add(where, "changed", "'additionalProperties' changed")


def _same(old: Any, new: Any) -> bool:
    return bool(_strip(old) == _strip(new))


def _strip(node: Any) -> Any:
    """``node`` without annotations, at every depth; names and literal values are kept as is."""
    if isinstance(node, list):
        return [_strip(item) for item in node]
    if not isinstance(node, dict):
        return node
    stripped: dict[str, Any] = {}
    for key, value in node.items():
        if key in ANNOTATIONS:
            continue
        if key in _LITERALS:
            stripped[key] = value
        elif key in _NAMED_SCHEMAS and isinstance(value, dict):
            stripped[key] = {name: _strip(item) for name, item in value.items()}
        else:
            stripped[key] = _strip(value)
    return stripped


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path).replace(".[]", "[]")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _listed(values: frozenset[str] | None) -> list[Any] | None:
    return None if values is None else [json.loads(v) for v in sorted(values)]


def _show(value: Any) -> str:
    text = _canonical(value) if value is not None else "none"
    return text if len(text) <= 80 else text[:77] + "..."
