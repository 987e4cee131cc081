"""Step 3, map (Quality on NICE CXone): one ``qm-workflows`` CSV row -> a quality contract record.

The row's keys are ``extraction.csv_key`` of the CSV headers; every value is a string (§3.6).
Rules (reference §3.5-3.6 -> contract quality 1.x):

- ``evaluation_id`` = ``workflowId`` as given (the contract wants a UUID: one that is not is
  rejected by the contract, never rewritten).
- ``conversation_id`` = ``ids.contact_uuid(acdId)``: the evaluated ACD contact, the same id the
  Telephony record of that contact carries. No usable ``acdId`` (a non-ACD interaction) is a
  mapping rejection (``no_contact``).
- ``agent_id`` = ``agentId`` as given (the contract wants a UUID).
- ``status`` from ``workflowStatus`` by ``STATUSES``; a status not in the table (``Dispute``,
  ``Sent to Agent``...) is a mapping rejection (``status_unmapped``): its meaning in the
  contract's five states is not documented, so it is not guessed.
- ``total_score`` = ``scorePercentage`` as a number (blank: omitted; not a number: rejection
  ``bad_number``). ``form_name`` = ``formName`` (blank: omitted).
- ``changed_at`` = ``lastUpdated`` in UTC ``yyyy-MM-ddTHH:mm:ss.SSSZ``; ``submissionDate`` is
  the window key (the API selects by it). ``media_type`` = ``interactionType`` by ``MEDIA_TYPES``,
  else lower-cased.
- No CXone source: ``evaluator_id`` (names only), ``form_id``, ``critical_score``,
  ``released_at``, ``version`` (``formVersion`` is the form's, not the evaluation's): omitted,
  as the contract allows.
A row that is not an object, or has no ``workflowId``, usable ``submissionDate`` or usable
``lastUpdated``, is rejected at stage ``parse``. Pure: no I/O, never raises.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from producer.domains.mapped import Mapped, never_raises, parse_utc, required_utc, utc_millis
from producer.issues import Issue
from producer.platforms.nice.ids import contact_number, contact_uuid

__all__ = ["MEDIA_TYPES", "STATUSES", "map_workflow", "workflow_id", "workflow_submitted"]

STATUSES: dict[str, str] = {
    "completed": "FINISHED",
    "in progress": "INPROGRESS",
    "in review": "INREVIEW",
    "awaiting submission": "PENDING",
    "deleted": "RETRACTED",
}
"""``workflowStatus`` (lower-cased; values from NICE's Evaluation Details report) -> contract."""

MEDIA_TYPES: dict[str, str] = {
    "voice": "voice",
    "phone call": "voice",
    "call": "voice",
    "chat": "chat",
    "email": "email",
    "sms": "sms",
}
"""``interactionType`` (lower-cased) -> the telephony product's vocabulary (values unconfirmed)."""


def workflow_id(source: Any) -> str | None:
    """The row's ``workflowId`` when non-blank, for dropping repeats."""
    value = source.get("workflowId") if isinstance(source, dict) else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def workflow_submitted(source: Any) -> datetime | None:
    """The row's ``submissionDate`` as aware UTC (naive read as UTC): the window key."""
    return parse_utc(_text(source.get("submissionDate"))) if isinstance(source, dict) else None


@never_raises
def map_workflow(source: dict[str, Any]) -> Mapped:
    """Map a QM workflow row to a quality contract record (rules above)."""
    issues: list[Issue] = []
    identifier = workflow_id(source)
    if identifier is None:
        issues.append(Issue("$.workflowId", "required", "no workflowId"))
    if workflow_submitted(source) is None:  # the window key: read as the router reads it
        issues.append(Issue("$.submissionDate", "format", "no usable submissionDate"))
    changed = required_utc(_text(source.get("lastUpdated")), "$.lastUpdated", issues)
    if issues or identifier is None or changed is None:
        return Mapped(None, tuple(issues), "parse")

    record: dict[str, Any] = {"evaluation_id": identifier}
    number = contact_number(source.get("acdId"))
    if number is None:
        issues.append(Issue("$.acdId", "no_contact", "no ACD contact id"))
    else:
        record["conversation_id"] = contact_uuid(number)
    status = _text(source.get("workflowStatus"))
    if status.lower() in STATUSES:
        record["status"] = STATUSES[status.lower()]
    else:
        issues.append(
            Issue("$.workflowStatus", "status_unmapped", f"status {status[:60]!r} has no match")
        )
    _optional(source, record, issues)
    record["changed_at"] = utc_millis(changed)
    return Mapped(record, tuple(issues), "mapping")


def _optional(source: dict[str, Any], record: dict[str, Any], issues: list[Issue]) -> None:
    """``agent_id``, ``form_name``, ``total_score`` and ``media_type`` where the row has them."""
    agent = _text(source.get("agentId"))
    if agent:
        record["agent_id"] = agent
    form = _text(source.get("formName"))
    if form:
        record["form_name"] = form
    score = _text(source.get("scorePercentage"))
    if score:
        try:
            value = float(score)
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            record["total_score"] = value
        else:
            issues.append(Issue("$.scorePercentage", "bad_number", "score is not a number"))
    media = _text(source.get("interactionType"))
    if media:
        record["media_type"] = MEDIA_TYPES.get(media.lower(), media.lower())


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
