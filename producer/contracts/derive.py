"""Between step 3, map, and step 4, validate: a contract's record derived from the mapper's.

A domain has one mapper; a contract of a later major may rename fields (its ``rename``: mapper
path → contract path, dotted). ``derive`` applies that to one mapped record. Pure: the input is
never mutated (dicts on a renamed path are copied, everything else is shared), and odd input
never raises: a rename whose source is absent, or whose source or target runs through a value
that is not an object, is not applied (the record keeps what it had, for validation to judge).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["derive"]


def derive(record: Mapping[str, Any], rename: Mapping[str, str]) -> dict[str, Any]:
    """``record`` with every ``rename`` source moved to its target (an empty map: a copy).

    A target that already holds a value is overwritten by the source's. Objects left empty by a
    move are removed, so an optional object never lands as ``{}`` (the mapper omits empty ones).
    """
    derived = dict(record)
    for source, target in rename.items():
        target_path = target.split(".")
        if not _reachable(derived, target_path):
            continue
        found, value = _pop(derived, source.split("."))
        if found:
            _put(derived, target.split("."), value)
    return derived


def _pop(record: dict[str, Any], path: list[str]) -> tuple[bool, Any]:
    head, rest = path[0], path[1:]
    if head not in record:
        return False, None
    if not rest:
        return True, record.pop(head)
    child = record[head]
    if not isinstance(child, dict):
        return False, None
    copied = dict(child)
    found, value = _pop(copied, rest)
    if found:
        if copied:
            record[head] = copied
        else:
            del record[head]
    return found, value


def _reachable(record: dict[str, Any], path: list[str]) -> bool:
    node: Any = record
    for head in path[:-1]:
        node = node.get(head)
        if node is None:
            return True
        if not isinstance(node, dict):
            return False
    return True


def _put(record: dict[str, Any], path: list[str], value: Any) -> None:
    head, rest = path[0], path[1:]
    if not rest:
        record[head] = value
        return
    child = record.get(head)
    copied = dict(child) if isinstance(child, dict) else {}
    _put(copied, rest, value)
    record[head] = copied
