"""The lake's line formats (between step 4, validate, and step 5, write): pure, orjson only.

Owns the data line (the guide's envelope: ``x-schema-version``, ``domain``, ``data``) and the
dead-letter line (everything needed to audit and replay a rejected record). Lines carry no
trailing newline; framing and compression belong to ``lake/encode.py``. No I/O here, and the
dead-letter line never raises, whatever the source object holds. A line is returned in a bytes
object of its own size: the writer holds a batch of thousands of them, and orjson's output
keeps the whole buffer it grew (several KB for a line of a few hundred bytes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from producer.clock import iso_instant
from producer.contracts.registry import Contract
from producer.issues import Issue
from producer.windows import Window

__all__ = ["DLQ_STAGES", "PUBLISH_STAGE", "dead_letter_line", "envelope_line"]

PUBLISH_STAGE = "publish"  # a landed record the event stream refused for good (its own series)
DLQ_STAGES = frozenset({"parse", "mapping", "validation", PUBLISH_STAGE})
_DLQ_OPTIONS = orjson.OPT_NON_STR_KEYS
_MAX_DEPTH = 200  # orjson refuses nesting deeper than 255 levels
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


def envelope_line(contract: Contract, record: Mapping[str, Any]) -> bytes:
    """The data line of a valid record, no trailing newline.

    ``{"x-schema-version": "1.0", "domain": "telephony", "data": {...}}``. The record is a
    validated contract record (JSON types only); anything else raises ``orjson.JSONEncodeError``.
    """
    data = record if isinstance(record, dict) else dict(record)
    return _trimmed(
        orjson.dumps(
            {"x-schema-version": contract.version, "domain": contract.domain, "data": data}
        )
    )


def dead_letter_line(
    *,
    domain: str,
    schema_version: str,
    window: Window,
    rejected_at: datetime,
    stage: str,
    issues: Sequence[Issue],
    record: Mapping[str, Any] | None,
    source: Any,
) -> bytes:
    """The DLQ line of a rejected record, no trailing newline.

    Keys: ``domain``, ``x-schema-version``, ``window`` {start, end} and ``rejected_at`` (ISO,
    UTC), ``stage`` (parse | mapping | validation | publish), ``errors`` [{path, rule, message}],
    ``record`` (the mapped record or null) and ``source`` (the original object). Never raises on
    odd ``record``/``source`` content: what JSON cannot hold is kept as a string (its repr), too
    deep nesting and cycles are cut. Raises ``ValueError`` only for an unknown ``stage``.
    """
    if stage not in DLQ_STAGES:
        raise ValueError(f"unknown DLQ stage {stage!r}; expected one of {sorted(DLQ_STAGES)}")
    line: dict[str, Any] = {
        "domain": domain,
        "x-schema-version": schema_version,
        "window": {"start": _iso(window.start), "end": _iso(window.end)},
        "rejected_at": _iso(rejected_at),
        "stage": stage,
        "errors": [
            {"path": issue.path, "rule": issue.rule, "message": issue.message} for issue in issues
        ],
        "record": record if record is None or isinstance(record, dict) else _as_dict(record),
        "source": source,
    }
    return _trimmed(_dead_letter_json(line, record, source))


def _dead_letter_json(line: dict[str, Any], record: Any, source: Any) -> bytes:
    try:
        # Sources parsed from JSON have string keys: the plain encoder is the fast path.
        return orjson.dumps(line, default=_fallback)
    except orjson.JSONEncodeError:
        pass
    try:
        return orjson.dumps(line, default=_fallback, option=_DLQ_OPTIONS)
    except orjson.JSONEncodeError:
        # Odd content (huge ints, lone surrogates, cycles, deep nesting): sanitise and retry.
        line["record"] = _sanitise(line["record"], 0, set())
        line["source"] = _sanitise(source, 0, set())
    try:
        return orjson.dumps(line, default=_fallback, option=_DLQ_OPTIONS)
    except orjson.JSONEncodeError:
        # Last resort keeps the audit trail (who, when, why) and the payload as text.
        line["record"] = _safe_repr(record)
        line["source"] = _safe_repr(source)
        return orjson.dumps(line, option=_DLQ_OPTIONS)


def _trimmed(dumped: bytes) -> bytes:
    """``dumped`` copied into a bytes object of its own length.

    orjson (3.12 and later) returns its whole output buffer, several KB even for a short line,
    with only the length set. Joining with an empty string copies; it costs a fraction of the
    serialisation, and a held line then weighs its length, not its buffer.
    """
    return b"".join((dumped, b""))


# A window's rejections share its bounds and export time: format each instant once.
_iso = lru_cache(maxsize=64)(iso_instant)


def _as_dict(record: Mapping[str, Any]) -> Any:
    try:
        return dict(record)
    except Exception:  # a hostile Mapping: keep its repr rather than fail the DLQ write
        return _safe_repr(record)


def _fallback(value: Any) -> str:
    return _safe_repr(value)


def _safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not break the DLQ
        text = f"<unrepresentable {type(value).__name__}>"
    return _clean_text(text[:10_000])


def _clean_text(text: str) -> str:
    # Lone surrogates (valid in Python str, from JSON "\ud800" escapes) are not UTF-8.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _sanitise(value: Any, depth: int, seen: set[int]) -> Any:
    """A JSON-safe copy of ``value``: plain types kept, the rest as repr strings."""
    if value is None or isinstance(value, bool | float):
        result: Any = value
    elif isinstance(value, int):
        result = value if _INT_MIN <= value <= _INT_MAX else str(value)
    elif isinstance(value, str):
        result = _clean_text(value)
    elif not isinstance(value, Mapping | list | tuple):
        result = _safe_repr(value)
    elif depth >= _MAX_DEPTH:
        result = "<nested too deep>"
    elif id(value) in seen:
        result = "<cycle>"
    else:
        seen.add(id(value))
        try:
            result = _sanitise_container(value, depth, seen)
        except Exception:  # a hostile container: keep what repr gives
            result = _safe_repr(value)
        finally:
            seen.discard(id(value))
    return result


def _sanitise_container(value: Any, depth: int, seen: set[int]) -> Any:
    if isinstance(value, Mapping):
        return {_key(key): _sanitise(item, depth + 1, seen) for key, item in value.items()}
    return [_sanitise(item, depth + 1, seen) for item in value]


def _key(key: Any) -> str:
    return _clean_text(key) if isinstance(key, str) else _safe_repr(key)
