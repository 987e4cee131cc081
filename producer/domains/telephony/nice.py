"""Step 3, map (Telephony on NICE CXone): one completed contact -> a telephony contract record.

Rules (reference §2.1 -> contract telephony 1.x). Both documented spellings of a field are read
(the v21-era schema's ``contactStart``/``fromAddr``/``toAddr``/``mediaType`` and the newer
``contactStartDate``/``fromAddress``/``toAddress``/``mediaTypeId``); a record that carries both
spellings with different values is rejected (``conflicting_fields``), never resolved by guess.

- ``interaction_id`` = ``ids.contact_uuid(contactId)`` (the contract wants a UUID; see ``ids``).
- ``channel_type`` from the media type id: 4 -> ``voice``, 3 -> ``chat``; the other documented
  ids (1 email, 5 voicemail, 6 workitem, 7 sms, 8 social, 9 digital) pass through by name for
  the contract to reject (it enumerates voice and chat); an id not in that table is a mapping
  rejection (``unknown_media_type``).
- ``duration_seconds`` = ``totalDurationSeconds`` (an integer); absent or not an integer is a
  mapping rejection (``no_duration``); a negative one is left to the contract.
- ``caller_number`` = ``fromAddress`` for an inbound contact, ``toAddress`` for an outbound one
  (``isOutbound``), without a leading ``tel:``; omitted for chat or when ``isOutbound`` is not a
  boolean. Anything else (``anonymous``, an e-mail address) passes for the contract to reject.
- ``metadata.campaign_id``/``agent_id`` = ``campaignId``/``agentId`` as decimal strings, omitted
  when absent, null or 0 (no campaign / no agent).
A source that is not an object, or has no usable ``contactId`` or contact start, is rejected at
stage ``parse``. Pure: no I/O, and never raises on arbitrary JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from producer.domains.mapped import Mapped, never_raises, parse_utc, required_utc
from producer.issues import Issue
from producer.platforms.nice.ids import contact_number, contact_uuid

__all__ = ["MEDIA_TYPES", "contact_id", "contact_start", "map_contact"]

MEDIA_TYPES: dict[int, str] = {
    1: "email",
    3: "chat",
    4: "voice",
    5: "voicemail",
    6: "workitem",
    7: "sms",
    8: "social",
    9: "digital",
}
"""CXone media type ids (a client's docstring, reference §2.1; NICE's table unconfirmed)."""

_SPELLINGS: dict[str, tuple[str, str]] = {
    "start": ("contactStartDate", "contactStart"),
    "from": ("fromAddress", "fromAddr"),
    "to": ("toAddress", "toAddr"),
    "media": ("mediaTypeId", "mediaType"),
}


class _Conflict(Exception):
    def __init__(self, names: tuple[str, str]) -> None:
        super().__init__(names)
        self.names = names


def _field(source: dict[str, Any], what: str) -> Any:
    newer, older = _SPELLINGS[what]
    if newer in source and older in source and source[newer] != source[older]:
        raise _Conflict((newer, older))
    return source[newer] if newer in source else source.get(older)


def contact_start(source: Any) -> datetime | None:
    """The contact's start (either spelling) as an aware UTC datetime: the window key."""
    if not isinstance(source, dict):
        return None
    try:
        return parse_utc(_field(source, "start"))
    except _Conflict:
        return None


def contact_id(source: Any) -> str | None:
    """The contact's contract id (its UUID), for dropping repeats; None when unusable."""
    number = contact_number(source.get("contactId")) if isinstance(source, dict) else None
    return contact_uuid(number) if number is not None else None


@never_raises
def map_contact(source: dict[str, Any]) -> Mapped:
    """Map a completed contact to a telephony contract record (rules above)."""
    try:
        return _map(source)
    except _Conflict as conflict:
        newer, older = conflict.names
        issue = Issue(f"$.{newer}", "conflicting_fields", f"{newer} and {older} disagree")
        return Mapped(None, (issue,), "parse")


def _map(source: dict[str, Any]) -> Mapped:
    issues: list[Issue] = []
    number = contact_number(source.get("contactId"))
    if number is None:
        issues.append(Issue("$.contactId", "required", "no usable contactId"))
    required_utc(_field(source, "start"), "$.contactStartDate", issues, "contact start")
    if issues or number is None:
        return Mapped(None, tuple(issues), "parse")

    record: dict[str, Any] = {"interaction_id": contact_uuid(number)}
    media = _field(source, "media")
    if isinstance(media, int) and not isinstance(media, bool) and media in MEDIA_TYPES:
        record["channel_type"] = MEDIA_TYPES[media]
    else:
        issues.append(
            Issue("$.mediaTypeId", "unknown_media_type", f"media type {media!r} is not known")
        )

    duration = source.get("totalDurationSeconds")
    if isinstance(duration, int) and not isinstance(duration, bool):
        record["duration_seconds"] = duration
    else:
        issues.append(Issue("$.totalDurationSeconds", "no_duration", "no integer duration"))

    number_value = _caller(source, record.get("channel_type"))
    if number_value is not None:
        record["caller_number"] = number_value
    metadata = _metadata(source)
    if metadata:
        record["metadata"] = metadata
    return Mapped(record, tuple(issues), "mapping")


def _caller(source: dict[str, Any], channel: Any) -> Any:
    """``fromAddress`` (inbound) or ``toAddress`` (outbound) without ``tel:``; None for chat."""
    outbound = source.get("isOutbound")
    if channel == "chat" or not isinstance(outbound, bool):
        return None
    value = _field(source, "to" if outbound else "from")
    if isinstance(value, str) and value[:4].lower() == "tel:":
        return value[4:]
    return value


def _metadata(source: dict[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    for name, key in (("campaign_id", "campaignId"), ("agent_id", "agentId")):
        value = source.get(key)
        if value is None or value == 0:
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            metadata[name] = str(value)
        else:
            metadata[name] = value  # not an id number: the contract's type check decides
    return metadata
