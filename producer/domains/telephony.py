"""Step 3, map (Telephony): one analytics conversation-details object -> a contract record.

Rules (reference §5.4 -> contract telephony 1.x):
- ``interaction_id`` = ``conversationId``.
- ``channel_type`` = ``mediaType`` of the customer participant's first session (else the first
  session of any participant), passed through as is: the contract rejects email, callback...
- ``duration_seconds`` = round(``conversationEnd`` - ``conversationStart``) in whole seconds
  (Python's ``round``). No ``conversationEnd`` (still active at the availability date) is a
  *mapping* rejection (rule ``conversation_active``), so it shows in the DLQ instead of vanishing.
- ``caller_number`` = the customer session's ``ani`` (inbound) or ``dnis`` (outbound; direction
  from the session, else ``originatingDirection``) without a leading ``tel:``; ``sip:`` or
  ``anonymous`` pass through for the contract to reject. Omitted for chat.
- ``metadata.campaign_id`` = first ``outboundCampaignId`` of any session;
  ``metadata.agent_id`` = ``userId`` of the first ``agent`` participant that has one.
- Absent optional fields are omitted (never null); ``metadata`` is omitted when empty.
A source that is not an object or has no usable ``conversationId``/``conversationStart`` is
rejected at stage ``parse``. Pure: no I/O, and never raises on arbitrary JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from producer.contracts.validate import Issue
from producer.domains.mapped import Mapped, never_raises, parse_utc

__all__ = ["ACTIVE_RULE", "Mapped", "conversation_start", "map_conversation"]

ACTIVE_RULE = "conversation_active"


def conversation_start(source: Any) -> datetime | None:
    """The source's ``conversationStart`` as an aware UTC datetime; None if absent/unparseable."""
    if not isinstance(source, dict):
        return None
    return parse_utc(source.get("conversationStart"))


@never_raises
def map_conversation(source: Any) -> Mapped:
    """Map a conversation-details object to a telephony contract record (rules above).

    Never raises: a source it cannot use becomes a rejected ``Mapped``. An unexpected internal
    failure is reported as a mapping issue with rule ``mapper_error`` rather than crashing.
    """
    return _map(source)


def _map(source: Any) -> Mapped:
    if not isinstance(source, dict):
        return Mapped(None, (Issue("$", "type", "source is not a JSON object"),), "parse")
    issues: list[Issue] = []
    conversation_id = source.get("conversationId")
    if not isinstance(conversation_id, str) or not conversation_id.strip():
        issues.append(Issue("$.conversationId", "required", "no usable conversationId"))
    start = parse_utc(source.get("conversationStart"))
    if start is None:
        issues.append(Issue("$.conversationStart", "format", "no usable conversationStart"))
    if issues or start is None:
        return Mapped(None, tuple(issues), "parse")

    record: dict[str, Any] = {"interaction_id": conversation_id}
    participants = [p for p in _list(source.get("participants")) if isinstance(p, dict)]
    customer = next((p for p in participants if p.get("purpose") == "customer"), None)
    customer_session = _first(_sessions(customer)) if customer is not None else None
    channel_session = customer_session
    if channel_session is None:
        channel_session = _first(s for p in participants for s in _sessions(p))
    if channel_session is not None and channel_session.get("mediaType") is not None:
        record["channel_type"] = channel_session["mediaType"]

    raw_end = source.get("conversationEnd")
    end = parse_utc(raw_end)
    if raw_end is None:
        issues.append(Issue("$.conversationEnd", ACTIVE_RULE, "conversation has not ended"))
    elif end is None:
        issues.append(Issue("$.conversationEnd", "format", "unparseable conversationEnd"))
    else:
        record["duration_seconds"] = round((end - start).total_seconds())

    if customer_session is not None and record.get("channel_type") != "chat":
        direction = customer_session.get("direction") or source.get("originatingDirection")
        number = _caller_number(customer_session, direction)
        if number is not None:
            record["caller_number"] = number

    metadata = _metadata(participants)
    if metadata:
        record["metadata"] = metadata
    return Mapped(record, tuple(issues), "mapping")


def _caller_number(session: dict[str, Any], direction: Any) -> Any:
    if direction == "inbound":
        value = session.get("ani")
    elif direction == "outbound":
        value = session.get("dnis")
    else:
        return None
    if isinstance(value, str) and value[:4].lower() == "tel:":
        return value[4:]
    return value


def _metadata(participants: list[dict[str, Any]]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    campaign = next(
        (
            s["outboundCampaignId"]
            for p in participants
            for s in _sessions(p)
            if s.get("outboundCampaignId") is not None
        ),
        None,
    )
    if campaign is not None:
        metadata["campaign_id"] = campaign
    agent = next(
        (
            p["userId"]
            for p in participants
            if p.get("purpose") == "agent" and p.get("userId") is not None
        ),
        None,
    )
    if agent is not None:
        metadata["agent_id"] = agent
    return metadata


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _sessions(participant: dict[str, Any]) -> Iterator[dict[str, Any]]:
    return (s for s in _list(participant.get("sessions")) if isinstance(s, dict))


def _first(items: Iterator[dict[str, Any]]) -> dict[str, Any] | None:
    return next(items, None)
