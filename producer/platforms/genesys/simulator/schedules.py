"""Simulator data for WFM: business units and their published agent schedules (reference §7).

Deterministic for (seed, business unit, BU week, revision): a week's shifts come from their own
``Random``, so any week is built independently and always the same. Days are BU-local (the week
starts on the unit's ``startDayOfWeek`` in its time zone, DST included); instants are UTC.
Activities tile each shift; a few percent of shifts break the contract on purpose. Revision ``r``
of a week (a republish) moves the middle day's shift of two agents. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from random import Random
from zoneinfo import ZoneInfo

from producer.platforms.genesys.simulator.timeline import DIRECTORY, JsonDict, new_uuid

__all__ = [
    "CHANGED_DAY",
    "WEEKDAYS",
    "AgentWeek",
    "BusinessUnit",
    "WeekSchedule",
    "business_units",
    "format_utc",
    "week_schedule",
    "week_start",
    "weeks_overlapping",
]

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
CHANGED_DAY = 3  # a republish moves shifts on this day of the BU week: mid-week in UTC too
_BU_PATH = "/api/v2/workforcemanagement/businessunits"
# (name, Olson zone, startDayOfWeek, share of agents_per_unit): two DST zones that change on
# different dates, one with a half-hour offset and no DST.
_UNITS = (
    ("North America Support", "America/New_York", "Sunday", 1.5),
    ("EMEA Sales", "Europe/Berlin", "Monday", 1.0),
    ("APAC Service", "Asia/Kolkata", "Saturday", 0.5),
)
# activity codes: id -> (description, paid)
_CODES = {
    "0": ("On Queue Work", True),
    "1": ("Break", True),
    "2": ("Meal", False),
    "3": ("Meeting", True),
    "4": ("Training", True),
    "5": ("Time Off", True),
}
_DAYS_OFF = ((0, 1), (1, 2), (4, 5), (5, 6), (6, 0))  # never the changed day
_VACATION_RATIO = 0.04
_PARTIAL_TIME_OFF_RATIO = 0.06
_DEFECTS = ("no_activities", "negative_length", "no_activity_code")


@dataclass(frozen=True, slots=True)
class BusinessUnit:
    """A WFM business unit: its zone, the day its weeks start on, and its agents (user ids)."""

    id: str
    name: str
    time_zone: str
    start_day_of_week: str
    division_id: str
    agents: tuple[str, ...]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


@dataclass(frozen=True, slots=True)
class AgentWeek:
    """One agent's part of a published week: shifts and full-day time-off markers."""

    user_id: str
    shifts: tuple[JsonDict, ...]
    markers: tuple[JsonDict, ...]


@dataclass(frozen=True, slots=True)
class WeekSchedule:
    """A BU week's published schedule (one revision); callers must not mutate the dicts."""

    unit: BusinessUnit
    week_date: date
    schedule_id: str
    revision: int
    agents: tuple[AgentWeek, ...]


def format_utc(when: datetime) -> str:
    """A UTC instant as WFM writes it: ``yyyy-MM-ddTHH:mm:ssZ``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=16)
def business_units(seed: int, agents_per_unit: int) -> tuple[BusinessUnit, ...]:
    """The org's business units, by id. Agents are the directory's users, then new ids."""
    rng = Random(f"ccaas-sim-wfm:{seed}:units")
    pool = [agent.user_id for agent in DIRECTORY.agents]
    units: list[BusinessUnit] = []
    for name, zone, start_day, share in _UNITS:
        count = max(1, round(agents_per_unit * share))
        agents = [pool.pop(0) if pool else new_uuid(rng) for _ in range(count)]
        unit_id = new_uuid(rng)
        division = DIRECTORY.divisions[len(units) % len(DIRECTORY.divisions)]
        units.append(BusinessUnit(unit_id, name, zone, start_day, division, tuple(agents)))
    return tuple(sorted(units, key=lambda u: u.id))


def week_start(unit: BusinessUnit, local_day: date) -> date:
    """The first day (BU-local) of the unit's week that contains ``local_day``."""
    first = WEEKDAYS.index(unit.start_day_of_week)
    return local_day - timedelta(days=(local_day.weekday() - first) % 7)


def weeks_overlapping(unit: BusinessUnit, start: datetime, end: datetime) -> list[date]:
    """Week dates of the unit whose shifts may overlap ``[start, end)`` (a shift starts and
    ends on its own BU-local day or the next one, so one day of margin before is enough)."""
    first = start.astimezone(unit.zone).date() - timedelta(days=1)
    last = end.astimezone(unit.zone).date()
    weeks: list[date] = []
    day = week_start(unit, first)
    while day <= last:
        weeks.append(day)
        day += timedelta(days=7)
    return weeks


@lru_cache(maxsize=512)
def week_schedule(
    seed: int, unit: BusinessUnit, week_date: date, revision: int, invalid_ratio: float
) -> WeekSchedule:
    """The published schedule of ``unit`` for the week starting ``week_date`` at ``revision``.

    Revision 0 is the first publication; revision ``r`` > 0 moves the ``CHANGED_DAY`` shift of
    two agents later by 30, 60 or 90 minutes (never the same as ``r - 1``), marking it
    ``manuallyEdited``. Raises ``ValueError`` when ``week_date`` is not on the week start day.
    """
    if week_start(unit, week_date) != week_date:
        raise ValueError(f"{week_date} is not a {unit.start_day_of_week}")
    rng = Random(f"ccaas-sim-wfm:{seed}:{unit.id}:{week_date}")
    schedule_id = new_uuid(rng)
    moved: dict[str, int] = {}
    if revision > 0:
        base = week_schedule(seed, unit, week_date, 0, invalid_ratio)
        working = [a.user_id for a in base.agents if _changed_day_shift(a, unit, week_date)]
        pick = Random(f"ccaas-sim-wfm:{seed}:{unit.id}:{week_date}:r{revision}")
        for user in pick.sample(working, min(2, len(working))):
            moved[user] = 30 * (1 + (revision - 1) % 3)
    agents = tuple(
        _agent_week(
            seed,
            unit,
            week_date,
            user,
            schedule_id=schedule_id,
            moved_minutes=moved.get(user, 0),
            invalid_ratio=invalid_ratio,
        )
        for user in sorted(unit.agents)
    )
    return WeekSchedule(unit, week_date, schedule_id, revision, agents)


def _changed_day_shift(agent: AgentWeek, unit: BusinessUnit, week_date: date) -> bool:
    day = week_date + timedelta(days=CHANGED_DAY)
    return any(
        datetime.fromisoformat(s["startDate"]).astimezone(unit.zone).date() == day
        for s in agent.shifts
        if isinstance(s.get("startDate"), str)
    )


def _agent_week(
    seed: int,
    unit: BusinessUnit,
    week_date: date,
    user: str,
    *,
    schedule_id: str,
    moved_minutes: int,
    invalid_ratio: float,
) -> AgentWeek:
    rng = Random(f"ccaas-sim-wfm:{seed}:{unit.id}:{week_date}:{user}")
    days_off = rng.choice(_DAYS_OFF)
    start_minute = rng.randrange(6 * 60, 12 * 60 + 1, 30)  # the agent's local start this week
    length = rng.choice((480, 510, 540, 600))
    work_plan = new_uuid(rng)
    shifts: list[JsonDict] = []
    markers: list[JsonDict] = []
    for offset in range(7):
        day = week_date + timedelta(days=offset)
        day_rng = Random(f"ccaas-sim-wfm:{seed}:{unit.id}:{user}:{day}")
        shift_id, request_id = new_uuid(day_rng), new_uuid(day_rng)
        vacation = day_rng.random() < _VACATION_RATIO and offset != CHANGED_DAY
        partial_off = day_rng.random() < _PARTIAL_TIME_OFF_RATIO
        defect = _DEFECTS[day_rng.randrange(len(_DEFECTS))]
        broken = day_rng.random() < invalid_ratio
        if offset in days_off:
            continue
        if vacation:
            markers.append(_marker(day, length, request_id))
            continue
        minute = start_minute + (moved_minutes if offset == CHANGED_DAY else 0)
        local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=unit.zone)
        start = local.astimezone(UTC)
        activities = _activities(day_rng, start, length, request_id if partial_off else None)
        shift: JsonDict = {
            "id": shift_id,
            "startDate": format_utc(start),
            "lengthMinutes": length,
            "manuallyEdited": bool(moved_minutes) and offset == CHANGED_DAY,
            "workPlanId": work_plan,
            "schedule": {
                "id": schedule_id,
                "weekDate": week_date.isoformat(),
                "selfUri": f"{_BU_PATH}/{unit.id}/weeks/{week_date}/schedules/{schedule_id}",
            },
            "activities": activities,
        }
        if broken:
            _break_contract(shift, defect)
        shifts.append(shift)
    return AgentWeek(user, tuple(shifts), tuple(markers))


def _activities(
    rng: Random, start: datetime, length: int, time_off_request: str | None
) -> list[JsonDict]:
    """Blocks that tile ``[start, start + length)``: work, two breaks, a meal, maybe a meeting
    or training, and maybe the last two hours as partial-day time off."""
    inserts = [(120, 15, "1"), (length // 2 - 15, 30, "2"), (length - 120, 15, "1")]
    if rng.random() < 0.3:
        inserts.append((60, 30, rng.choice(("3", "4"))))
    tail = length
    if time_off_request is not None:
        tail = length - 120
        inserts = [i for i in inserts if i[0] + i[1] <= tail - 15]
    blocks: list[tuple[int, int, str]] = []
    cursor = 0
    for at, minutes, code in sorted(inserts):
        if at > cursor:
            blocks.append((cursor, at - cursor, "0"))
        blocks.append((at, minutes, code))
        cursor = at + minutes
    if tail > cursor:
        blocks.append((cursor, tail - cursor, "0"))
    if time_off_request is not None:
        blocks.append((tail, length - tail, "5"))
    activities = []
    for at, minutes, code in blocks:
        description, paid = _CODES[code]
        activity: JsonDict = {
            "startDate": format_utc(start + timedelta(minutes=at)),
            "lengthMinutes": minutes,
            "description": description,
            "activityCodeId": code,
            "paid": paid,
            "payableMinutes": minutes if paid else 0,
        }
        if code == "5" and time_off_request is not None:
            activity["timeOffRequestId"] = time_off_request
        activities.append(activity)
    return activities


def _marker(day: date, length: int, request_id: str) -> JsonDict:
    return {
        "businessUnitDate": day.isoformat(),
        "startOffsetMinutes": 0,
        "endOffsetMinutes": length,
        "lengthMinutes": length,
        "description": "Vacation",
        "activityCodeId": "5",
        "paid": True,
        "payableMinutes": length,
        "timeOffRequestId": request_id,
    }


def _break_contract(shift: JsonDict, defect: str) -> None:
    """Damage a shift the way real data sometimes is, so the contract must reject it."""
    if defect == "no_activities":
        shift["activities"] = []
    elif defect == "negative_length":
        shift["lengthMinutes"] = -shift["lengthMinutes"]
    else:
        del shift["activities"][0]["activityCodeId"]
