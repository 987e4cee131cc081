"""Simulator routes for the Quality evaluation search (reference §6.2): the org-wide listing.

``POST /api/v2/quality/evaluations/search`` pages by ``pageSize``/``pageNumber`` in the body and
answers ``{pageSize, pageNumber, results}`` (no total). Its ``query`` must hold a DATE_RANGE on a
searchable date field spanning at most ``evaluation_search_max_months``; EXACT predicates compare
a dotted field path of the evaluation. Each request reads the index afresh (now - lag), so pages
shift when evaluations change between requests, as a live search does. Facts the reference leaves
open are ``SimulatorConfig`` knobs. Routes only: the data comes from ``evaluations``/``scorecards``.
"""

from __future__ import annotations

import asyncio
import calendar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from producer.platforms.genesys.simulator import evaluations, scorecards
from producer.platforms.genesys.simulator.instants import InstantErrors, required_instant
from producer.platforms.genesys.simulator.responses import (
    SIMULATOR,
    BadRequest,
    error_response,
    json_object,
    json_response,
)
from producer.platforms.genesys.simulator.state import Simulator, SimulatorConfig
from producer.platforms.genesys.simulator.timeline import epoch_ms

__all__ = ["SEARCH_PATH", "add_routes"]

SEARCH_PATH = "/api/v2/quality/evaluations/search"
_SORT_FIELDS = ("conversationDate", "createdDate", "submittedDate", "releaseDate")
_NOT_SIMULATED = (
    "GREATER_THAN",
    "GREATER_THAN_EQUAL_TO",
    "LESS_THAN",
    "LESS_THAN_EQUAL_TO",
    "RANGE",
    "REQUIRED_FIELDS",
)
_DATE_ERRORS = InstantErrors(
    missing_code="invalid.date",
    missing="{name} is required, as yyyy-MM-ddTHH:mm:ss.SSSZ",
    invalid="{name} {value!r} is not a valid date",
    naive="{name} {value!r} has no time zone",
)


def add_routes(app: web.Application) -> None:
    """Register the evaluation search."""
    app.router.add_post(SEARCH_PATH, _search)


@dataclass(frozen=True, slots=True)
class _Exact:
    path: tuple[str, ...]
    values: tuple[Any, ...]
    negate: bool

    def matches(self, body: dict[str, Any]) -> bool:
        value: Any = body
        for part in self.path:
            value = value.get(part) if isinstance(value, dict) else None
        return (value is not None and value in self.values) != self.negate


@dataclass(frozen=True, slots=True)
class _Search:
    ranges: list[evaluations.DateRange]
    exact: list[_Exact]
    page_size: int
    page_number: int
    sort_by: str
    descending: bool


def _add_months(when: datetime, months: int) -> datetime:
    """``when`` plus calendar months, the day clamped to the target month's last day."""
    index = when.month - 1 + months
    year, month = when.year + index // 12, index % 12 + 1
    return when.replace(
        year=year, month=month, day=min(when.day, calendar.monthrange(year, month)[1])
    )


def _date_range(
    cfg: SimulatorConfig, predicate: dict[str, Any], negate: bool
) -> evaluations.DateRange:
    field = predicate.get("field")
    if field not in cfg.evaluation_search_date_fields:
        raise BadRequest("invalid.value", f"DATE_RANGE on {field!r} is not supported")
    start = required_instant(predicate.get("startValue"), "startValue", _DATE_ERRORS)
    end = required_instant(predicate.get("endValue"), "endValue", _DATE_ERRORS)
    if end < start:
        raise BadRequest("invalid.date", "endValue must not be before startValue")
    months = cfg.evaluation_search_max_months
    if end > _add_months(start, months):
        raise BadRequest("invalid.value", f"The date range must not exceed {months} months")
    inclusive = cfg.evaluation_search_end_inclusive
    return evaluations.DateRange(field, epoch_ms(start), epoch_ms(end), inclusive, negate)


def _exact(predicate: dict[str, Any], negate: bool) -> _Exact:
    field = predicate.get("field")
    if not isinstance(field, str) or not field:
        raise BadRequest("bad.request", "EXACT needs a field")
    if "values" in predicate:
        values = predicate["values"]
        if not isinstance(values, list) or not values:
            raise BadRequest("bad.request", "values must be a non-empty list")
    elif "value" in predicate:
        values = [predicate["value"]]
    else:
        raise BadRequest("bad.request", "EXACT needs value or values")
    return _Exact(tuple(field.split(".")), tuple(values), negate)


def _positive_int(body: dict[str, Any], name: str, default: int, maximum: int | None) -> int:
    value = body.get(name, default)
    too_big = maximum is not None and isinstance(value, int) and value > maximum
    if not isinstance(value, int) or isinstance(value, bool) or value < 1 or too_big:
        bound = f" to {maximum}" if maximum is not None else " or more"
        raise BadRequest("invalid.value", f"{name} must be an integer from 1{bound}")
    return value


def _parse(sim: Simulator, body: dict[str, Any]) -> _Search:
    """Validate a search body; raises BadRequest as the platform answers 400."""
    cfg = sim.config
    query = body.get("query")
    if not isinstance(query, list) or not all(isinstance(p, dict) for p in query):
        raise BadRequest("bad.request", "query must be a list of predicates")
    ranges: list[evaluations.DateRange] = []
    exact: list[_Exact] = []
    for predicate in query:
        kind, operator = predicate.get("type"), predicate.get("operator", "AND")
        if operator not in ("AND", "NOT"):
            raise BadRequest("invalid.value", "operator must be AND or NOT")
        if kind == "DATE_RANGE":
            ranges.append(_date_range(cfg, predicate, operator == "NOT"))
        elif kind == "EXACT":
            exact.append(_exact(predicate, operator == "NOT"))
        elif kind in _NOT_SIMULATED:
            raise BadRequest("invalid.value", f"query type {kind} is not simulated")
        else:
            raise BadRequest("invalid.value", f"Unknown query type {kind!r}")
    if not any(not r.negate for r in ranges):
        raise BadRequest("bad.request", "A DATE_RANGE predicate of at most 3 months is required")
    sort_by = body.get("sortBy", "createdDate")
    if sort_by not in _SORT_FIELDS:
        raise BadRequest("invalid.value", f"sortBy must be one of {', '.join(_SORT_FIELDS)}")
    sort_order = body.get("sortOrder", "ASC")
    if not isinstance(sort_order, str) or sort_order.upper() not in ("ASC", "DESC"):
        raise BadRequest("invalid.value", "sortOrder must be ASC or DESC")
    page_size = _positive_int(
        body,
        "pageSize",
        cfg.evaluation_search_page_size_default,
        cfg.evaluation_search_page_size_max,
    )
    page_number = _positive_int(body, "pageNumber", 1, None)
    return _Search(ranges, exact, page_size, page_number, sort_by, sort_order.upper() == "DESC")


def _page(sim: Simulator, search: _Search) -> list[dict[str, Any]]:
    """One page of results as the index shows them now (runs in a thread: it may scan far)."""
    found = evaluations.select(
        sim.evaluation_population(), search.ranges, sim.evaluation_index_ms()
    )
    ordered = evaluations.order(found, search.sort_by, search.descending)
    media = dict(sim.config.evaluation_media_types)
    offset = (search.page_number - 1) * search.page_size
    if not search.exact:
        page = ordered[offset : offset + search.page_size]
        return [scorecards.build(plan, revision, media) for plan, revision in page]
    bodies = (scorecards.build(plan, revision, media) for plan, revision in ordered)
    matching = [b for b in bodies if all(e.matches(b) for e in search.exact)]
    return matching[offset : offset + search.page_size]


async def _search(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    try:
        search = _parse(sim, await json_object(request))
    except BadRequest as exc:
        return error_response(request, exc.status, exc.code, exc.message)
    results = await asyncio.to_thread(_page, sim, search)
    return json_response(
        {"pageSize": search.page_size, "pageNumber": search.page_number, "results": results}
    )
