"""Step 4, validate: check a mapped record against its domain contract.

Owns ``Issue`` (one reason a record is rejected) and ``Validator``: the fast path is the
fastjsonschema function compiled once per contract; only a rejected record pays for jsonschema,
which lists every problem (same draft, same formats, same ``$``-means-end-of-string patterns).
Pure: no I/O, never mutates the record, never raises on record content.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema
from fastjsonschema import JsonSchemaValueException
from jsonschema.exceptions import ValidationError

from producer.contracts.registry import SCHEMA_FORMATS, Contract, compile_schema

__all__ = ["Issue", "Validator", "json_path"]

_MESSAGE_MAX = 300
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# fastjsonschema reads an unescaped "$" in a pattern as end of string (ECMA-262), not Python's
# "end or before a final newline"; the explaining validator must agree with it.
_DOLLAR = re.compile(r"(?<!\\)\$")


@dataclass(frozen=True)
class Issue:
    """One reason a record is rejected.

    ``path`` is a JSON path into the record (``$``, ``$.metadata.agent_id``, ``$.items[0]``);
    ``rule`` is the JSON Schema keyword that failed (``type``, ``enum``, ``pattern``,
    ``required``, ``minimum``, ``format``, ...) or a mapping rule name; ``message`` says what is
    wrong in words (it may quote the offending value, truncated).
    """

    path: str
    rule: str
    message: str


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
        self._fast = compile_schema(contract.schema)
        self._explainer = _ExplainingValidator(contract.schema, format_checker=_format_checker())

    def check(self, record: Mapping[str, Any]) -> list[Issue]:
        """``[]`` when ``record`` satisfies the contract, else one ``Issue`` per problem."""
        data = record if isinstance(record, dict) else dict(record)
        try:
            self._fast(data)
        except JsonSchemaValueException as first:
            return self._explain(data, first)
        return []

    def _explain(self, data: dict[str, Any], first: JsonSchemaValueException) -> list[Issue]:
        issues = [_issue(error) for error in self._explainer.iter_errors(data)]
        if issues:
            return issues
        # jsonschema disagrees (a format it cannot check, say): trust the compiled validator.
        parts: list[str | int] = []
        for part in list(first.path or [])[1:]:
            parts.append(int(part) if str(part).isdigit() else str(part))
        rule = str(first.rule or "schema")
        return [Issue(json_path(parts), rule, _short(str(first.message)))]


def _issue(error: ValidationError) -> Issue:
    parts: list[str | int] = list(error.absolute_path)
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
