"""Step 4, validate: check a mapped record against its domain contract.

Owns ``Validator`` (a record's ``Issue`` list, ``producer.issues``): the fast path is the
fastjsonschema function compiled once per contract; only a rejected record pays for jsonschema,
which lists every problem (same draft, same formats, same ``$``-means-end-of-string patterns),
and only for the properties that fail their own compiled check. Pure: no I/O, never mutates the
record, never raises on record content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import jsonschema
from fastjsonschema import JsonSchemaValueException
from jsonschema.exceptions import ValidationError

from producer.contracts.registry import SCHEMA_FORMATS, Contract, compile_schema
from producer.issues import Issue

__all__ = ["Validator", "json_path"]

_MESSAGE_MAX = 300
_CACHED_VALUES = 4096  # explanations kept per property, for the scalar values that failed
_CACHED_TEXT_MAX = 256  # longer strings are explained every time (they would bloat the cache)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# fastjsonschema reads an unescaped "$" in a pattern as end of string (ECMA-262), not Python's
# "end or before a final newline"; the explaining validator must agree with it.
_DOLLAR = re.compile(r"(?<!\\)\$")


def json_path(parts: Sequence[str | int]) -> str:
    """``["metadata", "agent_id"]`` -> ``$.metadata.agent_id``; indexes as ``[0]``."""
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.match(part):
            out.append(f".{part}")
        else:
            out.append("[" + repr(part) + "]")
    return "".join(out)


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not re.search(
        _DOLLAR.sub(r"\\Z", pattern), instance
    ):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _format_checker() -> jsonschema.FormatChecker:
    base = jsonschema.Draft7Validator.FORMAT_CHECKER
    checker = jsonschema.FormatChecker(formats=base.checkers)
    for name, check in SCHEMA_FORMATS.items():
        checker.checks(name)(check)
    return checker


_ExplainingValidator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]  # no stub
    jsonschema.Draft7Validator, validators={"pattern": _pattern}
)


class Validator:
    """Checks records against one contract's schema.

    Compiles the schema once at construction (cached across validators of the same schema).
    ``check`` returns ``[]`` for a valid record, else every issue found; it never raises for
    record content and never fills in defaults.
    """

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        checker = _format_checker()
        self._fast = compile_schema(contract.schema)
        self._explainer = _ExplainingValidator(contract.schema, format_checker=checker)
        self._split = _split(contract.schema, checker)

    def check(self, record: Mapping[str, Any]) -> list[Issue]:
        """``[]`` when ``record`` satisfies the contract, else one ``Issue`` per problem."""
        data = record if isinstance(record, dict) else dict(record)
        try:
            self._fast(data)
        except JsonSchemaValueException as first:
            return self._explain(data, first)
        return []

    def _explain(self, data: dict[str, Any], first: JsonSchemaValueException) -> list[Issue]:
        if self._split is None:
            issues = [_issue(error) for error in self._explainer.iter_errors(data)]
        else:
            rest, properties = self._split
            issues = [_issue(error) for error in rest.iter_errors(data)]
            for prop in properties:
                if prop.name in data:
                    issues += prop.issues(data[prop.name])
        if issues:
            return issues
        # jsonschema disagrees (a format it cannot check, say): trust the compiled validator.
        parts: list[str | int] = []
        for part in list(first.path or [])[1:]:
            parts.append(int(part) if str(part).isdigit() else str(part))
        rule = str(first.rule or "schema")
        return [Issue(json_path(parts), rule, _short(str(first.message)))]


class _Property:
    """One top-level property: its compiled check, and its explainer for values that fail."""

    def __init__(self, name: str, schema: Any, checker: jsonschema.FormatChecker) -> None:
        self.name = name
        if isinstance(schema, Mapping):
            self._fast = compile_schema(schema)
        else:  # a boolean schema: true accepts anything, false nothing
            self._fast = compile_schema({} if schema else {"not": {}})
        self._explainer = _ExplainingValidator(schema, format_checker=checker)
        self._cache: dict[tuple[type, Any], list[Issue]] = {}

    def issues(self, value: Any) -> list[Issue]:
        """What is wrong with ``value`` under this property ([] when it passes)."""
        try:
            self._fast(value)
        except JsonSchemaValueException:
            pass
        else:
            return []
        key = _cache_key(value)
        found = self._cache.get(key) if key is not None else None
        if found is None:
            prefix = (self.name,)
            found = [_issue(error, prefix) for error in self._explainer.iter_errors(value)]
            if key is not None:
                if len(self._cache) >= _CACHED_VALUES:
                    self._cache.clear()
                self._cache[key] = found
        return list(found)


def _cache_key(value: Any) -> tuple[type, Any] | None:
    """Scalars repeat (an ``email`` channel, an anonymous caller): their explanation is reused."""
    if value is None or isinstance(value, bool | int | float):
        return (type(value), value)
    if isinstance(value, str) and len(value) <= _CACHED_TEXT_MAX:
        return (str, value)
    return None


def _split(
    schema: Mapping[str, Any], checker: jsonschema.FormatChecker
) -> tuple[Any, list[_Property]] | None:
    """The root's own keywords and one ``_Property`` per declared property, when every error
    the full explainer would give is the union of theirs; None otherwise (a ``$ref`` anywhere
    may point across properties, so such schemas are explained whole)."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or '"$ref"' in json.dumps(schema):
        return None
    if not all(isinstance(sub, Mapping | bool) for sub in properties.values()):
        return None
    rest = {key: value for key, value in schema.items() if key != "properties"}
    if "additionalProperties" in schema:  # needs the declared names, not their schemas
        rest["properties"] = dict.fromkeys(properties, True)
    draft = {"$schema": schema["$schema"]} if "$schema" in schema else {}
    parts = [
        _Property(str(name), {**draft, **sub} if isinstance(sub, Mapping) else sub, checker)
        for name, sub in properties.items()
    ]
    return _ExplainingValidator(rest, format_checker=checker), parts


def _issue(error: ValidationError, prefix: tuple[str, ...] = ()) -> Issue:
    parts: list[str | int] = [*prefix, *error.absolute_path]
    rule = str(error.validator)
    if rule == "required" and isinstance(error.validator_value, list):
        for name in error.validator_value:
            if error.message == f"{name!r} is a required property":
                parts.append(str(name))
                break
    return Issue(json_path(parts), rule, _short(error.message))


def _short(message: str) -> str:
    message = " ".join(message.split())
    if len(message) > _MESSAGE_MAX:
        return message[: _MESSAGE_MAX - 3] + "..."
    return message
