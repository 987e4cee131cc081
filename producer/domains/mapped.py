"""Step 3 (map): the result type every domain mapper returns, and the instants they share.

A mapper turns one source object into a contract record or a rejection; it never raises. The
worker sends ``ok`` results on to validation and everything else to the dead-letter path with
its issues and stage. ``parse_utc`` reads a source's timestamp (``required_utc`` one the record
cannot do without); ``utc_millis`` writes one the way the contracts'
``yyyy-MM-ddTHH:mm:ss.SSSZ`` fields want it. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from producer.issues import Issue

__all__ = ["Mapped", "never_raises", "parse_utc", "required_utc", "utc_field", "utc_millis"]


@dataclass(frozen=True)
class Mapped:
    """The result of mapping one source object.

    ``record`` set and no ``issues``: mapped OK (``stage`` is ``"mapping"``). Otherwise rejected
    at ``stage`` ``"parse"`` (source unusable, ``record`` None) or ``"mapping"`` (``record``
    holds what could be mapped, for the DLQ).
    """

    record: dict[str, Any] | None
    issues: tuple[Issue, ...]
    stage: str

    @property
    def ok(self) -> bool:
        """True when the source mapped to a record with no issues."""
        return self.record is not None and not self.issues


def never_raises(mapper: Callable[[dict[str, Any]], Mapped]) -> Callable[[Any], Mapped]:
    """Make ``mapper`` total over arbitrary JSON: a source that is not a JSON object is rejected
    at stage ``parse`` before ``mapper`` sees it, and an unexpected exception becomes a
    ``mapper_error`` rejection.

    The last line of defence: the DLQ keeps the source object, so a mapper bug loses nothing
    and the record can be replayed once the mapper is fixed.
    """

    @wraps(mapper)
    def guarded(source: Any) -> Mapped:
        if not isinstance(source, dict):
            return Mapped(None, (Issue("$", "type", "source is not a JSON object"),), "parse")
        try:
            return mapper(source)
        except Exception as exc:  # a mapper bug must not stop the window: dead-letter it
            issue = Issue("$", "mapper_error", f"mapper failed: {exc.__class__.__name__}")
            return Mapped(None, (issue,), "mapping")

    return guarded


def parse_utc(value: Any) -> datetime | None:
    """An ISO-8601 timestamp as an aware UTC datetime (naive is read as UTC); else None.

    The router reads a record's time (``DomainSpec.record_time``), then the mapper reads the
    same field of the same object again: the last string parsed is remembered with its result,
    so that second read (the very same ``str`` object) is not parsed again.
    """
    global _last  # noqa: PLW0603 - a one-entry memo of the last string parsed
    if not isinstance(value, str):
        return None
    last = _last
    if value is last[0]:
        return last[1]
    parsed = _parse_utc(value)
    _last = (value, parsed)
    return parsed


def required_utc(
    value: Any, path: str, issues: list[Issue], what: str | None = None
) -> datetime | None:
    """``value`` parsed by ``parse_utc``; when it is no usable instant, ``issues`` gains the
    ``format`` issue ``no usable {what}`` at ``path`` (``what``: the path without ``$.``). How
    a mapper reads the timestamp a record cannot do without."""
    parsed = parse_utc(value)
    if parsed is None:
        issues.append(Issue(path, "format", f"no usable {what or path[2:]}"))
    return parsed


def utc_field(source: Any, name: str) -> datetime | None:
    """``source[name]`` parsed by ``parse_utc``; None when ``source`` is not a JSON object or
    the field is absent or unparseable (how a router reads a record's time)."""
    return parse_utc(source.get(name)) if isinstance(source, dict) else None


def utc_millis(instant: datetime) -> str:
    """A UTC instant as the contracts write it, ``yyyy-MM-ddTHH:mm:ss.SSSZ`` (zero-padded for
    any year, unlike ``strftime``)."""
    return (
        f"{instant.year:04d}-{instant.month:02d}-{instant.day:02d}T{instant.hour:02d}:"
        f"{instant.minute:02d}:{instant.second:02d}.{instant.microsecond // 1000:03d}Z"
    )


_last: tuple[str | None, datetime | None] = (None, None)


def _parse_utc(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
