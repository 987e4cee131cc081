"""Step 3, map (WFM): one published agent shift -> a ``wfm`` contract record.

The source is an item of ``ScheduleSearch`` (``{businessUnitId, businessUnitTimeZone, userId,
shift}``, reference §7.2). Rules:
- ``business_unit_id``, ``agent_id`` (``userId``), ``shift_id`` (``shift.id``) as given;
  ``shift_start`` = ``shift.startDate`` normalised to UTC ``yyyy-MM-ddTHH:mm:ss[.SSS]Z``.
  Without any of them the source is rejected at stage ``parse``.
- ``week`` = ``shift.schedule.weekDate`` (the BU-local first day of the week), ``time_zone`` =
  ``businessUnitTimeZone``, ``length_minutes`` = ``shift.lengthMinutes``; activities keep their
  order as ``{code: activityCodeId, start, length_minutes, paid}``. Values pass through as they
  are for the contract to judge (a negative length, no activities); absent ones are omitted.
Pure: no I/O, and never raises on arbitrary JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from producer.domains.mapped import Mapped, never_raises, parse_utc, required_utc
from producer.issues import Issue
from producer.platforms.genesys.schedules import ScheduleSearch

__all__ = ["Mapped", "ScheduleSearch", "map_shift", "shift_id", "shift_start"]


def shift_start(source: Any) -> datetime | None:
    """The shift's ``startDate`` as an aware UTC datetime; None if absent or unparseable."""
    shift = source.get("shift") if isinstance(source, dict) else None
    return parse_utc(shift.get("startDate")) if isinstance(shift, dict) else None


def shift_id(source: Any) -> str | None:
    """``{businessUnitId}/{userId}/{shift.id}``: unique per shift even if shift ids repeat across
    units or agents; None when any part is missing (the worker then does not deduplicate)."""
    if not isinstance(source, dict):
        return None
    shift = source.get("shift")
    parts = (
        source.get("businessUnitId"),
        source.get("userId"),
        shift.get("id") if isinstance(shift, dict) else None,
    )
    if not all(_text(part) for part in parts):
        return None
    return "/".join(str(part) for part in parts)


@never_raises
def map_shift(source: dict[str, Any]) -> Mapped:
    """Map a flattened shift to a wfm contract record (rules above)."""
    shift = source.get("shift")
    if not isinstance(shift, dict):
        return Mapped(None, (Issue("$.shift", "type", "shift is not a JSON object"),), "parse")
    issues: list[Issue] = []
    unit, user, ident = source.get("businessUnitId"), source.get("userId"), shift.get("id")
    for path, value in (("$.businessUnitId", unit), ("$.userId", user), ("$.shift.id", ident)):
        if not _text(value):
            issues.append(Issue(path, "required", f"no usable {path[2:]}"))
    start = required_utc(shift.get("startDate"), "$.shift.startDate", issues, "shift startDate")
    if issues or start is None:
        return Mapped(None, tuple(issues), "parse")

    record: dict[str, Any] = {"business_unit_id": unit}
    zone = source.get("businessUnitTimeZone")
    if zone is not None:
        record["time_zone"] = zone
    schedule = shift.get("schedule")
    week = schedule.get("weekDate") if isinstance(schedule, dict) else None
    if week is not None:
        record["week"] = week
    record["agent_id"] = user
    record["shift_id"] = ident
    record["shift_start"] = _format(start)
    if shift.get("lengthMinutes") is not None:
        record["length_minutes"] = shift["lengthMinutes"]
    activities = shift.get("activities")
    if isinstance(activities, list):
        record["activities"] = [_activity(a) for a in activities]
    elif activities is not None:
        record["activities"] = activities  # not a list: the contract says so
    return Mapped(record, (), "mapping")


def _activity(activity: Any) -> Any:
    if not isinstance(activity, dict):
        return activity
    mapped: dict[str, Any] = {}
    if activity.get("activityCodeId") is not None:
        mapped["code"] = activity["activityCodeId"]
    raw_start = activity.get("startDate")
    start = parse_utc(raw_start)
    if start is not None:
        mapped["start"] = _format(start)
    elif raw_start is not None:
        mapped["start"] = raw_start  # unparseable: the contract's pattern rejects it
    if activity.get("lengthMinutes") is not None:
        mapped["length_minutes"] = activity["lengthMinutes"]
    if activity.get("paid") is not None:
        mapped["paid"] = activity["paid"]
    return mapped


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _format(instant: datetime) -> str:
    """UTC ``yyyy-MM-ddTHH:mm:ssZ``, with ``.SSS`` only when there are milliseconds."""
    text = f"{instant.year:04d}-{instant:%m-%dT%H:%M:%S}"
    millis = instant.microsecond // 1000
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"
