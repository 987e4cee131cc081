"""Simulator WFM state: revisions of published weeks, pre-signed downloads, the Processing switch.

``Workforce`` answers what the agent-schedule search returns for a business unit and a UTC
range right now: the published weeks (up to ``weeks_ahead`` after the current BU week) at their
current revision, shifts overlapping the range, full-day markers whose BU-local day overlaps it.
It also keeps the bodies served at download URLs until they expire. Pure: callers pass the wall
and monotonic times; no I/O.
"""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from producer.platforms.genesys.simulator.schedules import (
    BusinessUnit,
    WeekSchedule,
    business_units,
    week_schedule,
    week_start,
    weeks_overlapping,
)
from producer.platforms.genesys.simulator.timeline import JsonDict

__all__ = ["Download", "SearchShape", "Workforce"]

SearchShape = Literal["auto", "inline", "download", "processing"]
"""How the agent-schedule search answers: ``auto`` is inline, or a downloadUrl when large."""


@dataclass(frozen=True, slots=True)
class Download:
    """A result body served at a pre-signed URL until ``expires_at`` (monotonic seconds)."""

    body: bytes
    expires_at: float


class Workforce:
    """The simulated org's WFM side: business units, published weeks and their revisions."""

    def __init__(
        self, *, seed: int, agents_per_unit: int, invalid_ratio: float, weeks_ahead: int
    ) -> None:
        self.units = business_units(seed, agents_per_unit)
        self.processing_pending = 0
        self._seed = seed
        self._invalid_ratio = invalid_ratio
        self._weeks_ahead = weeks_ahead
        self._revisions: dict[tuple[str, date], int] = {}
        self._downloads: dict[str, Download] = {}

    def unit(self, unit_id: str) -> BusinessUnit | None:
        """The business unit with this id, or None."""
        return next((u for u in self.units if u.id == unit_id), None)

    def published(self, unit: BusinessUnit, week_date: date, now: datetime) -> bool:
        """Whether the unit's week is published: not later than ``weeks_ahead`` weeks from now."""
        current = week_start(unit, now.astimezone(unit.zone).date())
        return week_date <= current + timedelta(days=7 * self._weeks_ahead)

    def week(self, unit: BusinessUnit, week_date: date) -> WeekSchedule:
        """The week's schedule at its current revision (``ValueError`` off the week start)."""
        revision = self._revisions.get((unit.id, week_date), 0)
        return week_schedule(self._seed, unit, week_date, revision, self._invalid_ratio)

    def republish(self, unit_id: str, week_date: date | str) -> list[str]:
        """Publish a changed version of the unit's week; returns the ids of the shifts changed.

        Raises ``KeyError`` for an unknown unit and ``ValueError`` for a day that does not start
        one of its weeks.
        """
        unit = self.unit(unit_id)
        if unit is None:
            raise KeyError(f"no business unit {unit_id}")
        day = date.fromisoformat(week_date) if isinstance(week_date, str) else week_date
        before = self.week(unit, day)
        self._revisions[(unit.id, day)] = before.revision + 1
        after = self.week(unit, day)
        old = {s["id"]: s for a in before.agents for s in a.shifts}
        return sorted(s["id"] for a in after.agents for s in a.shifts if old.get(s["id"]) != s)

    def search(
        self,
        unit: BusinessUnit,
        start: datetime,
        end: datetime,
        user_ids: frozenset[str] | None,
        now: datetime,
    ) -> JsonDict:
        """The ``result`` of an agent-schedule search over ``[start, end)`` (reference §7.2)."""
        weeks = [
            self.week(unit, w)
            for w in weeks_overlapping(unit, start, end)
            if self.published(unit, w, now)
        ]
        agents: list[JsonDict] = []
        for user in sorted(unit.agents):
            if user_ids is not None and user not in user_ids:
                continue
            mine = [a for week in weeks for a in week.agents if a.user_id == user]
            shifts = [s for a in mine for s in a.shifts if _overlaps(s, start, end)]
            markers = [m for a in mine for m in a.markers if _day_overlaps(unit, m, start, end)]
            agents.append(
                {
                    "user": {"id": user, "selfUri": f"/api/v2/users/{user}"},
                    "shifts": shifts,
                    "fullDayTimeOffMarkers": markers,
                }
            )
        return {
            "agentSchedules": agents,
            "businessUnitTimeZone": unit.time_zone,
            "publishedSchedules": [
                _published(unit, week) for week in weeks if _week_overlaps(week, start, end)
            ],
        }

    def shifts(self, start: datetime, end: datetime, now: datetime) -> list[JsonDict]:
        """Ground truth: every shift a search over ``[start, end)`` returns now, in all units.

        Each is ``{businessUnitId, businessUnitTimeZone, userId, shift}`` (a copy), sorted by
        business unit, user, shift start and shift id.
        """
        found: list[JsonDict] = []
        for unit in self.units:
            result = self.search(unit, start, end, None, now)
            for agent in result["agentSchedules"]:
                found.extend(
                    {
                        "businessUnitId": unit.id,
                        "businessUnitTimeZone": unit.time_zone,
                        "userId": agent["user"]["id"],
                        "shift": copy.deepcopy(shift),
                    }
                    for shift in agent["shifts"]
                )
        found.sort(
            key=lambda s: (
                s["businessUnitId"],
                s["userId"],
                s["shift"]["startDate"],
                s["shift"]["id"],
            )
        )
        return found

    def add_download(self, body: bytes, expires_at: float) -> str:
        """Keep ``body`` for a download URL; returns the URL's unguessable id."""
        download_id = secrets.token_urlsafe(24)
        self._downloads[download_id] = Download(body, expires_at)
        return download_id

    def download(self, download_id: str, now_mono: float) -> bytes | None:
        """The body behind a download id, or None when unknown or expired (then forgotten)."""
        found = self._downloads.get(download_id)
        if found is None:
            return None
        if now_mono >= found.expires_at:
            del self._downloads[download_id]
            return None
        return found.body

    def take_processing(self) -> bool:
        """Consume one armed "answer Processing" (``Simulator.processing_next``)."""
        if self.processing_pending <= 0:
            return False
        self.processing_pending -= 1
        return True


def _overlaps(shift: JsonDict, start: datetime, end: datetime) -> bool:
    begins = datetime.fromisoformat(shift["startDate"])
    length = shift["lengthMinutes"]
    ends = begins + timedelta(minutes=abs(length) if isinstance(length, int) else 0)
    return begins < end and (ends > start or begins >= start)


def _day_overlaps(unit: BusinessUnit, marker: JsonDict, start: datetime, end: datetime) -> bool:
    day = date.fromisoformat(marker["businessUnitDate"])
    begins = datetime.combine(day, time(0), tzinfo=unit.zone).astimezone(UTC)
    ends = datetime.combine(day + timedelta(days=1), time(0), tzinfo=unit.zone).astimezone(UTC)
    return begins < end and ends > start


def _week_overlaps(week: WeekSchedule, start: datetime, end: datetime) -> bool:
    zone = week.unit.zone
    begins = datetime.combine(week.week_date, time(0), tzinfo=zone).astimezone(UTC)
    ends = datetime.combine(week.week_date + timedelta(days=7), time(0), tzinfo=zone)
    return begins < end and ends.astimezone(UTC) > start


def _published(unit: BusinessUnit, week: WeekSchedule) -> JsonDict:
    return {
        "id": week.schedule_id,
        "weekDate": week.week_date.isoformat(),
        "weekCount": 1,
        "selfUri": (
            f"/api/v2/workforcemanagement/businessunits/{unit.id}"
            f"/weeks/{week.week_date}/schedules/{week.schedule_id}"
        ),
    }
