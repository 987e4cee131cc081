"""Simulator routes for WFM published schedules (reference §7) and their pre-signed downloads.

Business units (unpaged ``{entities}``, one with ``expand=settings``), a BU's week schedules
(``weekId`` must start a BU week), and the agent-schedule search with its three answers: inline
``result``, ``downloadUrl`` (served below ``/download/`` without auth, like a pre-signed URL:
a bearer header is refused, an expired or unknown id is a 404) and ``Processing``. Which one is
chosen by ``SimulatorConfig.wfm_*``, ``Simulator.processing_next`` and the platform's test flags
``forceAsync=true`` / ``forceDownloadService=true``. State lives in ``Simulator.workforce``.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from producer.platforms.genesys.simulator.instants import InstantErrors, required_instant
from producer.platforms.genesys.simulator.responses import (
    SIMULATOR,
    BadRequest,
    error_response,
    json_object,
    json_response,
)
from producer.platforms.genesys.simulator.schedules import BusinessUnit, WeekSchedule, week_start
from producer.platforms.genesys.simulator.state import Simulator

__all__ = ["BUSINESS_UNITS_PATH", "DOWNLOAD_PATH", "add_routes"]

BUSINESS_UNITS_PATH = "/api/v2/workforcemanagement/businessunits"
DOWNLOAD_PATH = "/download/agentschedules"
_RECENT_WEEKS = 26
_DATE_ERRORS = InstantErrors(
    missing_code="bad.request",
    missing="{name} is required",
    invalid="{name} {value!r} is not an ISO-8601 instant",
    naive="{name} {value!r} has no offset",
)
_S3_ERROR = (
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    "<Error><Code>{code}</Code><Message>{message}</Message></Error>"
)


def add_routes(app: web.Application) -> None:
    """Register the WFM routes and the unauthenticated download route."""
    app.router.add_get(BUSINESS_UNITS_PATH, _list_units)
    app.router.add_get(f"{BUSINESS_UNITS_PATH}/{{unit_id}}", _get_unit)
    app.router.add_get(f"{BUSINESS_UNITS_PATH}/{{unit_id}}/weeks/{{week_id}}/schedules", _weeks)
    app.router.add_post(f"{BUSINESS_UNITS_PATH}/{{unit_id}}/agentschedules/search", _search)
    app.router.add_get(f"{DOWNLOAD_PATH}/{{download_id}}", _download)


def _unit_body(unit: BusinessUnit, *, settings: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": unit.id,
        "name": unit.name,
        "division": {
            "id": unit.division_id,
            "selfUri": f"/api/v2/authorization/divisions/{unit.division_id}",
        },
    }
    if settings:
        body["settings"] = {
            "startDayOfWeek": unit.start_day_of_week,
            "timeZone": unit.time_zone,
            "metadata": {"version": 1},
        }
    body["selfUri"] = f"{BUSINESS_UNITS_PATH}/{unit.id}"
    return body


def _unit(request: web.Request) -> BusinessUnit:
    unit_id = request.match_info["unit_id"]
    unit = request.app[SIMULATOR].workforce.unit(unit_id)
    if unit is None:
        raise BadRequest("not.found", f"Business unit {unit_id} was not found", 404)
    return unit


async def _list_units(request: web.Request) -> web.Response:
    units = request.app[SIMULATOR].workforce.units
    return json_response({"entities": [_unit_body(u, settings=False) for u in units]})


async def _get_unit(request: web.Request) -> web.Response:
    try:
        unit = _unit(request)
    except BadRequest as exc:
        return error_response(request, exc.status, exc.code, exc.message)
    expand = request.query.getall("expand", [])
    return json_response(_unit_body(unit, settings="settings" in expand))


def _schedule_entity(unit: BusinessUnit, week: WeekSchedule) -> dict[str, Any]:
    modified = week.week_date - timedelta(days=10) + timedelta(days=week.revision)
    return {
        "id": week.schedule_id,
        "weekDate": week.week_date.isoformat(),
        "weekCount": 1,
        "description": f"{unit.name} week of {week.week_date}",
        "published": True,
        "metadata": {
            "version": week.revision + 1,
            "modifiedBy": {"id": "System", "selfUri": "/api/v2/users/System"},
            "dateModified": f"{modified.isoformat()}T12:00:00Z",
        },
        "selfUri": (
            f"{BUSINESS_UNITS_PATH}/{unit.id}/weeks/{week.week_date}/schedules/{week.schedule_id}"
        ),
    }


async def _weeks(request: web.Request) -> web.Response:
    """The unit's published schedules of one week (or ``recent``: ±26 weeks)."""
    sim = request.app[SIMULATOR]
    try:
        unit = _unit(request)
        weeks = _week_dates(unit, request.match_info["week_id"], sim)
    except BadRequest as exc:
        return error_response(request, exc.status, exc.code, exc.message)
    now = sim.config.now()
    entities = [
        _schedule_entity(unit, sim.workforce.week(unit, w))
        for w in weeks
        if sim.workforce.published(unit, w, now)
    ]
    return json_response({"entities": entities})


def _week_dates(unit: BusinessUnit, week_id: str, sim: Simulator) -> list[date]:
    if week_id == "recent":
        current = week_start(unit, sim.config.now().astimezone(unit.zone).date())
        span = range(-_RECENT_WEEKS, _RECENT_WEEKS + 1)
        return [current + timedelta(days=7 * n) for n in span]
    try:
        day = date.fromisoformat(week_id)
    except ValueError:
        raise BadRequest("invalid.date", f"weekId {week_id!r} is not yyyy-MM-dd") from None
    if week_start(unit, day) != day:
        message = f"weekId {week_id} must be a {unit.start_day_of_week}, the unit's week start"
        raise BadRequest("invalid.value", message)
    return [day]


async def _search_query(
    request: web.Request, sim: Simulator
) -> tuple[datetime, datetime, frozenset[str] | None]:
    body = await json_object(request)
    start = required_instant(body.get("startDate"), "startDate", _DATE_ERRORS)
    end = required_instant(body.get("endDate"), "endDate", _DATE_ERRORS)
    if end <= start:
        raise BadRequest("invalid.date", "endDate must be after startDate")
    if end - start > timedelta(days=sim.config.wfm_search_max_days):
        days = sim.config.wfm_search_max_days
        raise BadRequest("invalid.date", f"The date range must not exceed {days} days")
    users = body.get("userIds")
    if users is None:
        return start, end, None
    if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
        raise BadRequest("bad.request", "userIds must be a list of strings")
    return start, end, frozenset(users)


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() == "true"


async def _search(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    cfg = sim.config
    try:
        unit = _unit(request)
        start, end, users = await _search_query(request, sim)
    except BadRequest as exc:
        return error_response(request, exc.status, exc.code, exc.message)
    operation = str(uuid.uuid4())
    armed = sim.workforce.take_processing()
    too_long = cfg.wfm_async_over_days is not None and end - start > timedelta(
        days=cfg.wfm_async_over_days
    )
    if armed or too_long or cfg.wfm_search_shape == "processing" or _flag(request, "forceAsync"):
        return json_response({"status": "Processing", "operationId": operation, "progress": 0})
    result = sim.workforce.search(unit, start, end, users, cfg.now())
    shifts = sum(len(agent["shifts"]) for agent in result["agentSchedules"])
    download = cfg.wfm_search_shape == "download" or _flag(request, "forceDownloadService")
    if cfg.wfm_search_shape == "auto" and shifts > cfg.wfm_inline_max_shifts:
        download = True
    if not download:
        return json_response({"status": "Complete", "operationId": operation, "result": result})
    ttl = cfg.wfm_download_ttl_seconds
    body = json.dumps(result, separators=(",", ":")).encode()
    download_id = sim.workforce.add_download(body, cfg.monotonic() + ttl)
    url = f"{request.url.origin()}{DOWNLOAD_PATH}/{download_id}?X-Amz-Expires={int(ttl)}"
    return json_response({"status": "Complete", "operationId": operation, "downloadUrl": url})


def _s3_error(status: int, code: str, message: str) -> web.Response:
    text = _S3_ERROR.format(code=code, message=message)
    return web.Response(status=status, text=text, content_type="application/xml")


async def _download(request: web.Request) -> web.Response:
    """A pre-signed URL: the signature is the id; an ``Authorization`` header is a second
    auth mechanism and refused, as object storage does."""
    sim = request.app[SIMULATOR]
    if "Authorization" in request.headers:
        message = "Only one auth mechanism allowed; the Authorization header is not expected"
        return _s3_error(400, "InvalidArgument", message)
    body = sim.workforce.download(request.match_info["download_id"], sim.config.monotonic())
    if body is None:
        return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
    return web.Response(status=200, body=body, content_type="application/json")
