"""Step 2 (extract) for WFM: published agent schedules through the agent-schedule search.

One search per business unit (configured, else listed from the API) over the window. The answer
comes in one of three shapes (reference §7.2): an inline ``result``; a ``downloadUrl`` fetched
*without* the bearer header (its body is the ``result``); or ``Processing``, which would finish
by notification: without one the same search is retried after a pause, then split into one
search per day, and a day still ``Processing`` raises ``TransientSourceError`` (the window fails
whole and is redone later). Every answer, and a download's body, is checked against its
documented shape (``pages``): a 200 that is not one (a gateway's ``{}`` or error body) is asked
for again, never read as a unit without shifts. Yields one page per unit of flattened shifts, in
a deterministic order, so an unchanged week gives identical records; knows nothing of mapping or
the lake.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from producer.api import pages
from producer.api.client import ApiClient
from producer.clock import Clock, aware_instant
from producer.errors import PermanentSourceError, TransientSourceError
from producer.windows import Window

__all__ = ["BUSINESS_UNITS_PATH", "ScheduleSearch", "flatten_result"]

BUSINESS_UNITS_PATH = "/api/v2/workforcemanagement/businessunits"
_log = structlog.get_logger("producer.source")
_DAY = timedelta(days=1)


class ScheduleSearch:
    """Extracts the published shifts of every business unit for one window.

    ``business_units`` empty means: list them from the API on every fetch (a new unit is picked
    up without restart). ``processing_retries`` is how many times a ``Processing`` search is
    repeated after ``processing_pause_s`` before the range is split into days.
    """

    def __init__(
        self,
        api: ApiClient,
        *,
        clock: Clock,
        business_units: tuple[str, ...],
        processing_pause_s: float = 5.0,
        processing_retries: int = 1,
    ) -> None:
        self._api = api
        self._clock = clock
        self._business_units = tuple(sorted(set(business_units)))
        self._pause_s = processing_pause_s
        self._retries = processing_retries

    async def availability(self) -> datetime | None:
        """Published schedules have no availability lag: always None."""
        return None

    async def fetch(self, window: Window) -> AsyncGenerator[list[Any], None]:
        """Yield, per business unit (by id), its shifts overlapping ``window``.

        Each item is ``{businessUnitId, businessUnitTimeZone, userId, shift}``, sorted by user,
        shift start and shift id; a shift returned by two day searches appears once. Raises
        ``TransientSourceError`` for a search that never completes or an unusable answer, and
        whatever ``ApiClient.call`` raises.
        """
        for unit in await self._units():
            result = await self._search_range(unit, window.start, window.end)
            if result is None:
                result = await self._search_by_day(unit, window)
            yield flatten_result(unit, result)

    async def _units(self) -> tuple[str, ...]:
        if self._business_units:
            return self._business_units
        response = await self._api.call("GET", BUSINESS_UNITS_PATH, expect=pages.business_units)
        ids = {e.get("id") for e in response.body["entities"]}
        return tuple(sorted(i for i in ids if isinstance(i, str) and i))

    async def _search_by_day(self, unit: str, window: Window) -> dict[str, Any]:
        """The range as one search per day, merged; raises if a day will not complete."""
        _log.info("wfm_search_split", business_unit=unit, window=window.label)
        merged: dict[str, Any] = {"agentSchedules": []}
        day = window.start
        while day < window.end:
            end = min(day + _DAY, window.end)
            result = await self._search_range(unit, day, end)
            if result is None:
                raise TransientSourceError(
                    f"agent schedule search for business unit {unit} still Processing for "
                    f"{day:%Y-%m-%d} after {self._retries + 1} tries"
                )
            merged["agentSchedules"].extend(_agent_schedules(result))
            if "businessUnitTimeZone" in result:
                merged.setdefault("businessUnitTimeZone", result["businessUnitTimeZone"])
            day = end
        return merged

    async def _search_range(
        self, unit: str, start: datetime, end: datetime
    ) -> dict[str, Any] | None:
        """The ``result`` of a search over ``[start, end)``; None if it stays ``Processing``."""
        path = f"{BUSINESS_UNITS_PATH}/{unit}/agentschedules/search"
        query = {"startDate": _iso(start), "endDate": _iso(end)}
        for attempt in range(self._retries + 1):
            response = await self._api.call("POST", path, json=query, expect=pages.schedule_search)
            body = response.body
            status = body["status"]
            if status == "Complete":
                return await self._complete(unit, body)
            if status != "Processing":  # Canceled or Error: the platform gave up on it
                operation = str(body.get("operationId", ""))[:64]
                text = (
                    f"agent schedule search for business unit {unit}: status {status!r} "
                    f"(operation {operation})"
                )
                raise TransientSourceError(self._api.scrub(text))
            if attempt < self._retries:
                _log.info("wfm_search_processing", business_unit=unit, attempt=attempt + 1)
                await self._clock.sleep(self._pause_s)
        return None

    async def _complete(self, unit: str, body: dict[str, Any]) -> dict[str, Any]:
        """The result of a Complete answer: inline, or downloaded (both shape-checked)."""
        result: dict[str, Any] | None = body.get("result")
        if result is not None:
            return result
        try:
            downloaded = await self._api.call(
                "GET", body["downloadUrl"], auth=False, expect=pages.schedule_result
            )
        except PermanentSourceError as exc:  # expired or gone: a new search gets a new URL
            raise TransientSourceError(
                f"agent schedule download for business unit {unit} failed: {exc}"
            ) from exc
        downloaded_result: dict[str, Any] = downloaded.body
        return downloaded_result


def flatten_result(unit: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    """One item per shift of a search ``result``, deduplicated and deterministically sorted.

    Malformed entries (an agent schedule with no user, a shift that is not an object) are kept
    for the mapper to reject: nothing fetched is silently dropped. Full-day time-off markers are
    not shifts and are not part of the output.
    """
    zone = result.get("businessUnitTimeZone")
    seen: set[tuple[str, str]] = set()
    items: list[dict[str, Any]] = []
    for schedule in _agent_schedules(result):
        user = schedule.get("user") if isinstance(schedule, dict) else None
        user_id = user.get("id") if isinstance(user, dict) else None
        shifts = schedule.get("shifts") if isinstance(schedule, dict) else None
        for shift in shifts if isinstance(shifts, list) else []:
            shift_key = shift.get("id") if isinstance(shift, dict) else None
            user_key = user_id if isinstance(user_id, str) else _canonical(user_id)
            key = (user_key, shift_key if isinstance(shift_key, str) else _canonical(shift))
            if key in seen:
                continue
            seen.add(key)
            items.append(
                {
                    "businessUnitId": unit,
                    "businessUnitTimeZone": zone,
                    "userId": user_id,
                    "shift": shift,
                }
            )
    items.sort(key=_order)
    return items


def _agent_schedules(result: dict[str, Any]) -> list[Any]:
    schedules = result.get("agentSchedules", [])
    if not isinstance(schedules, list):
        raise TransientSourceError("agent schedule result: agentSchedules is not a list")
    return schedules


def _order(item: dict[str, Any]) -> tuple[str, float, str, str]:
    shift = item["shift"]
    fields = shift if isinstance(shift, dict) else {}
    start = aware_instant(fields.get("startDate"))
    return (
        str(item["userId"]),
        start.timestamp() if start is not None else float("inf"),
        str(fields.get("id")),
        _canonical(shift),
    )


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _iso(instant: datetime) -> str:
    instant = instant.astimezone(UTC)
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"
