"""Step 2 (extract), the answers the platform documents: one shape check per answer we read.

A 2xx answer is data only if it has the shape the reference documents for its endpoint; a
gateway's ``{}`` or JSON error body with status 200, or items that are not objects, are not "no
more results". Each check takes the parsed body and returns None when the shape is right, else a
short reason (our words, never the body's text). ``ApiClient.call(..., expect=check)`` treats a
wrong shape like an unparseable body: the same request is sent again with backoff within its
retry budget, then ``TransientSourceError`` fails the window, which is re-run later and never
committed short. Pure: no I/O. The rules (reference sections in brackets):

- job submit [§5.1]: ``jobId``, a non-empty string.
- job status [§5.1]: ``state``, a non-empty string (an unknown state is the extractor's call).
- availability [§5.1]: ``dataAvailabilityDate``, an ISO-8601 instant.
- job results page [§5.1, §5.3]: ``conversations``, a list of objects, with a ``cursor`` that is
  a string when present; or, on a final page only (no ``cursor``), ``conversations`` absent
  (the platform omits empty arrays) with a ``dataAvailabilityDate``.
- evaluation search page [§6.2]: ``results``, a list of objects; or ``results`` absent on an
  answer that carries its paging envelope, ``pageNumber`` equal to the page asked for.
- business units [§3.4, §7.1]: ``entities``, a list of objects.
- agent-schedule search [§7.2]: ``status`` one of Complete, Processing, Canceled, Error; a
  Complete answer carries a ``result`` (checked as below) or a ``downloadUrl`` string.
- agent-schedule result, inline or downloaded [§7.2]: ``agentSchedules``, a list of objects; or
  ``agentSchedules`` absent (no agent) with the ``businessUnitTimeZone`` string.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from producer.clock import aware_instant

__all__ = [
    "SCHEDULE_STATUSES",
    "Shape",
    "availability",
    "business_units",
    "job_status",
    "job_submitted",
    "results_page",
    "schedule_result",
    "schedule_search",
    "search_page",
]

Shape = Callable[[Any], str | None]
SCHEDULE_STATUSES = frozenset({"Complete", "Processing", "Canceled", "Error"})


def job_submitted(body: Any) -> str | None:
    """A job submit answer: ``{"jobId": "..."}``."""
    return _text_field(body, "jobId")


def job_status(body: Any) -> str | None:
    """A job status answer: ``{"state": "...", ...}``."""
    return _text_field(body, "state")


def availability(body: Any) -> str | None:
    """The availability answer: ``{"dataAvailabilityDate": "<instant>"}``."""
    if not isinstance(body, dict):
        return _not_object(body)
    return None if _instant(body.get("dataAvailabilityDate")) else "no dataAvailabilityDate"


def results_page(body: Any) -> str | None:
    """A job results page: conversations (and a cursor), or the documented empty final page."""
    if not isinstance(body, dict):
        return _not_object(body)
    cursor = body.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        return "cursor is not a string"
    if "conversations" not in body:
        if cursor:
            return "a cursor without conversations"
        if not _instant(body.get("dataAvailabilityDate")):
            return "neither conversations nor dataAvailabilityDate"
        return None
    return _objects(body["conversations"], "conversations")


def search_page(number: int) -> Shape:
    """The check of evaluation search page ``number``: results, or an empty page's envelope."""

    def check(body: Any) -> str | None:
        if not isinstance(body, dict):
            return _not_object(body)
        if "results" in body:
            return _objects(body["results"], "results")
        if body.get("pageNumber") != number:
            return f"no results and not page {number}"
        return None

    return check


def business_units(body: Any) -> str | None:
    """The business unit list: ``{"entities": [...]}``."""
    if not isinstance(body, dict):
        return _not_object(body)
    return _objects(body.get("entities"), "entities")


def schedule_search(body: Any) -> str | None:
    """An agent-schedule search answer in one of its documented shapes."""
    if not isinstance(body, dict):
        return _not_object(body)
    status = body.get("status")
    if status not in SCHEDULE_STATUSES:
        return "no known status"
    if status != "Complete":
        return None
    if body.get("result") is not None:
        return schedule_result(body["result"])
    return None if _text(body.get("downloadUrl")) else "Complete without result or downloadUrl"


def schedule_result(body: Any) -> str | None:
    """An agent-schedule ``result`` (inline, or the body of its download)."""
    if not isinstance(body, dict):
        return _not_object(body, "result")
    if "agentSchedules" in body:
        return _objects(body["agentSchedules"], "agentSchedules")
    if not _text(body.get("businessUnitTimeZone")):
        return "neither agentSchedules nor businessUnitTimeZone"
    return None


def _objects(items: Any, name: str) -> str | None:
    if not isinstance(items, list):
        return f"{name} is not a list"
    if not all(isinstance(item, dict) for item in items):
        return f"{name} holds an item that is not an object"
    return None


def _text_field(body: Any, key: str) -> str | None:
    """An object whose ``key`` is a non-empty string; else what is wrong."""
    if not isinstance(body, dict):
        return _not_object(body)
    return None if _text(body.get(key)) else f"no {key}"


def _not_object(body: Any, what: str = "body") -> str:
    return f"{what} is {'empty' if body is None else 'not an object'}"


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _instant(value: Any) -> bool:
    return aware_instant(value) is not None
