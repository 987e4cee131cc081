"""Step 3, map (Quality): one evaluation from the search -> a quality contract record.

Rules (reference §6.3 -> contract quality 1.x):
- ``evaluation_id`` = ``id``; ``conversation_id``, ``agent_id``, ``evaluator_id`` = the ``id`` of
  ``conversation``, ``agent``, ``evaluator``; ``form_id``/``form_name`` from ``evaluationForm``.
- ``status`` passes through as is (the contract enumerates the five the reference lists).
- ``total_score``/``critical_score`` = ``answers.totalScore``/``totalCriticalScore``, as given.
- ``changed_at``/``released_at`` = ``changedDate``/``releaseDate`` as UTC
  ``yyyy-MM-ddTHH:mm:ss.SSSZ``; an unparseable ``releaseDate`` passes through for the contract.
- ``media_type`` = the first ``mediaType``, in the analytics vocabulary (``CALL`` -> ``voice``...);
  one not in the table is lower-cased. ``version`` = ``version`` (consumers keep the highest).
Absent optional fields are omitted (never null). A source that is not an object, or has no usable
``id`` or ``changedDate`` (the window key), is rejected at stage ``parse``. Pure: no I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from producer.domains.mapped import (
    Mapped,
    never_raises,
    parse_utc,
    required_utc,
    utc_field,
    utc_millis,
)
from producer.issues import Issue
from producer.platforms.genesys.evaluations import EvaluationSearch

__all__ = [
    "MEDIA_TYPES",
    "EvaluationSearch",
    "Mapped",
    "evaluation_changed",
    "evaluation_id",
    "map_evaluation",
]

MEDIA_TYPES: dict[str, str] = {
    "CALL": "voice",
    "CALLBACK": "callback",
    "CHAT": "chat",
    "EMAIL": "email",
    "MESSAGE": "message",
    "SOCIAL_EXPRESSION": "socialexpression",
    "VIDEO_COMM": "video",
    "SCREENSHARE": "screenshare",
}
"""Quality ``mediaType`` strings (unconfirmed by the reference) -> analytics media types."""


def evaluation_id(source: Any) -> str | None:
    """The evaluation's ``id`` when it is a non-empty string, else None."""
    value = source.get("id") if isinstance(source, dict) else None
    return value if isinstance(value, str) and value.strip() else None


def evaluation_changed(source: Any) -> datetime | None:
    """``changedDate`` as an aware UTC datetime (the window key); None if absent/unparseable."""
    return utc_field(source, "changedDate")


@never_raises
def map_evaluation(source: dict[str, Any]) -> Mapped:
    """Map a search result to a quality contract record (rules above)."""
    issues: list[Issue] = []
    identifier = evaluation_id(source)
    if identifier is None:
        issues.append(Issue("$.id", "required", "no usable evaluation id"))
    changed = required_utc(source.get("changedDate"), "$.changedDate", issues)
    if issues or identifier is None or changed is None:
        return Mapped(None, tuple(issues), "parse")

    record: dict[str, Any] = {"evaluation_id": identifier}
    form = source.get("evaluationForm")
    answers = source.get("answers")
    candidates: tuple[tuple[str, Any], ...] = (
        ("conversation_id", _ref_id(source.get("conversation"))),
        ("agent_id", _ref_id(source.get("agent"))),
        ("evaluator_id", _ref_id(source.get("evaluator"))),
        ("form_id", _ref_id(form)),
        ("form_name", form.get("name") if isinstance(form, dict) else None),
        ("status", source.get("status")),
        ("total_score", answers.get("totalScore") if isinstance(answers, dict) else None),
        (
            "critical_score",
            answers.get("totalCriticalScore") if isinstance(answers, dict) else None,
        ),
        ("released_at", _timestamp(source.get("releaseDate"))),
        ("changed_at", utc_millis(changed)),
        ("media_type", _media_type(source.get("mediaType"))),
        ("version", source.get("version")),
    )
    record.update((name, value) for name, value in candidates if value is not None)
    return Mapped(record, (), "mapping")


def _ref_id(value: Any) -> Any:
    """The ``id`` of an entity reference ``{id, selfUri, ...}``; None when there is none."""
    return value.get("id") if isinstance(value, dict) else None


def _media_type(value: Any) -> Any:
    if isinstance(value, list):
        if not value:
            return None  # no media type given
        value = value[0]
    if isinstance(value, str):
        return MEDIA_TYPES.get(value.upper(), value.lower())
    return value  # not a string: the contract rejects it


def _timestamp(value: Any) -> Any:
    """A parseable timestamp in the contract's form; anything else as it came."""
    parsed = parse_utc(value)
    return utc_millis(parsed) if parsed is not None else value
