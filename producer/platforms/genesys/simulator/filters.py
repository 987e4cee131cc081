"""Simulator analytics jobs: the query filters a job body may carry (reference §5.1).

``compile_filters`` checks ``conversationFilters``/``segmentFilters`` and returns a predicate
over a built record: every filter of a list must hold; a filter combines its predicates and
clauses with ``and``/``or``; a predicate is a dimension, metric or property test with operator
matches, exists or notExists. Segment filters hold if one segment (seen with its session and
participant) satisfies them. Other filter kinds are refused rather than ignored. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from producer.platforms.genesys.simulator.timeline import JsonDict

__all__ = ["RecordFilter", "compile_filters"]

RecordFilter = Callable[[JsonDict], bool]
_Scope = list[JsonDict]  # dicts searched for a dimension, innermost first
_Test = Callable[[_Scope], bool]
_UNSUPPORTED = ("evaluationFilters", "surveyFilters", "resolutionFilters")
_NOT_FILTERS = "{name} must be a list of filter objects"  # refusing a body's filter list
_NOT_PARTS = "filter {name} must be a list of objects"  # refusing a filter's predicates/clauses


def compile_filters(body: JsonDict) -> RecordFilter | None:
    """The record predicate for a job body, or None when it has no filters.

    Raises ``ValueError`` (a 400 for the caller) when a filter is malformed or of a kind the
    simulator does not implement.
    """
    for name in _UNSUPPORTED:
        if body.get(name):
            raise ValueError(f"{name} are not supported by the simulator")
    conversation = [_filter(f) for f in _objects(body, "conversationFilters", _NOT_FILTERS)]
    segment = [_filter(f) for f in _objects(body, "segmentFilters", _NOT_FILTERS)]
    if not conversation and not segment:
        return None

    def matches(record: JsonDict) -> bool:
        if not all(test(_conversation_scope(record)) for test in conversation):
            return False
        return all(any(test(scope) for scope in _segment_scopes(record)) for test in segment)

    return matches


def _filter(spec: JsonDict) -> _Test:
    kind = spec.get("type")
    if kind not in ("and", "or"):
        raise ValueError(f"filter type must be 'and' or 'or', got {kind!r}")
    tests = [_predicate(p) for p in _objects(spec, "predicates", _NOT_PARTS)]
    for clause in _objects(spec, "clauses", _NOT_PARTS):
        tests.append(_filter({"type": clause.get("type"), "predicates": clause.get("predicates")}))
    if not tests:
        raise ValueError("a filter needs predicates or clauses")
    combine = all if kind == "and" else any
    return lambda scope: combine(test(scope) for test in tests)


def _objects(holder: JsonDict, name: str, refusal: str) -> list[JsonDict]:
    """``holder[name]`` as a list of objects ([] when absent or empty); otherwise ValueError
    with ``refusal`` formatted over ``name``."""
    value = holder.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(refusal.format(name=name))
    return value


def _predicate(spec: JsonDict) -> _Test:
    kind = spec.get("type", "dimension")
    operator = spec.get("operator", "matches")
    if operator not in ("matches", "exists", "notExists"):
        raise ValueError(f"unknown predicate operator {operator!r}")
    if kind not in _LOOKUPS:
        raise ValueError(f"unknown predicate type {kind!r}")
    name = spec.get(kind)  # the dimension/metric/property name sits under the type's own key
    if not isinstance(name, str) or not name:
        raise ValueError(f"a {kind} predicate needs a {kind} name")
    finder = _LOOKUPS[kind]

    def lookup(scope: _Scope) -> list[Any]:
        return finder(scope, name)

    if operator == "exists":
        return lambda scope: bool(lookup(scope))
    if operator == "notExists":
        return lambda scope: not lookup(scope)
    value, span = spec.get("value"), spec.get("range")
    if value is None and not isinstance(span, dict):
        raise ValueError(f"a matches predicate on {name!r} needs a value or a range")
    if isinstance(span, dict):
        return lambda scope: any(_in_range(v, span) for v in lookup(scope))
    return lambda scope: any(str(v) == str(value) for v in lookup(scope))


def _in_range(value: Any, span: JsonDict) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    checks = {
        "gt": lambda bound: number > bound,
        "gte": lambda bound: number >= bound,
        "lt": lambda bound: number < bound,
        "lte": lambda bound: number <= bound,
    }
    return all(checks[k](float(b)) for k, b in span.items() if k in checks)


def _dimension(scope: _Scope, name: str) -> list[Any]:
    plural = name + "s"  # divisionId → divisionIds, wrapUpTag → wrapUpTags
    for level in scope:
        if name in level:
            return [level[name]]
        if isinstance(level.get(plural), list):
            return list(level[plural])
    return []


def _metric(scope: _Scope, name: str) -> list[Any]:
    return [
        metric.get("value")
        for session in _sessions_in(scope)
        for metric in session.get("metrics") or []
        if metric.get("name") == name
    ]


def _sessions_in(scope: _Scope) -> Iterator[JsonDict]:
    for level in scope:
        if "mediaType" in level and "segments" in level:
            yield level
            return
    record = scope[-1]
    for participant in record.get("participants", []):
        yield from participant.get("sessions", [])


def _property(scope: _Scope, name: str) -> list[Any]:
    participants = [level for level in scope if "purpose" in level][:1]
    if not participants:
        participants = scope[-1].get("participants") or []
    return [p["attributes"][name] for p in participants if name in (p.get("attributes") or {})]


def _conversation_scope(record: JsonDict) -> _Scope:
    return [record]


def _segment_scopes(record: JsonDict) -> Iterator[_Scope]:
    for participant in record.get("participants", []):
        for session in participant.get("sessions", []):
            for segment in session.get("segments", []):
                yield [segment, session, participant, record]


_LOOKUPS: dict[str, Callable[[_Scope, str], list[Any]]] = {
    "dimension": _dimension,
    "metric": _metric,
    "property": _property,
}
