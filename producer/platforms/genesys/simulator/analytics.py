"""Simulator routes for analytics conversation-details async jobs (reference §5.1, §5.2).

Submit (202 + jobId), status, cursor-paged results, cancel (204) and the availability
watermark. A job snapshots its selection at submit time, so pages are stable; records are built
page by page. Choices where the platform is unconfirmed: results of an EXPIRED job → 404
``not.found``; of a job not FULFILLED → 400 ``bad.request``; pageSize outside [1, max] → 400.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

from aiohttp import web

from producer.platforms.genesys.simulator import data
from producer.platforms.genesys.simulator.filters import RecordFilter, compile_filters
from producer.platforms.genesys.simulator.jobs import Job
from producer.platforms.genesys.simulator.responses import (
    SIMULATOR,
    BadRequest,
    error_response,
    json_object,
    json_response,
    too_many_requests,
)
from producer.platforms.genesys.simulator.state import Simulator
from producer.platforms.genesys.simulator.timeline import epoch_ms, format_ms

__all__ = ["JOBS_PATH", "add_routes"]

JOBS_PATH = "/api/v2/analytics/conversations/details/jobs"


def add_routes(app: web.Application) -> None:
    """Register the jobs routes (availability before ``{job_id}`` so it is not taken for one)."""
    app.router.add_post(JOBS_PATH, _submit)
    app.router.add_get(f"{JOBS_PATH}/availability", _availability)
    app.router.add_get(f"{JOBS_PATH}/{{job_id}}", _status)
    app.router.add_delete(f"{JOBS_PATH}/{{job_id}}", _cancel)
    app.router.add_get(f"{JOBS_PATH}/{{job_id}}/results", _results)


def _instant(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _interval(value: Any) -> tuple[int, int]:
    """``start/end`` ISO-8601 (with an offset) → epoch ms; raises BadRequest."""
    if not isinstance(value, str) or not value:
        raise BadRequest("bad.request", "interval is required, as 'start/end' in ISO-8601")
    start_text, _, end_text = value.partition("/")
    start, end = _instant(start_text), _instant(end_text)
    if start is None or end is None:
        raise BadRequest("invalid.date", f"Invalid interval {value!r}")
    start_ms, end_ms = epoch_ms(start), epoch_ms(end)
    if end_ms <= start_ms:
        raise BadRequest("invalid.date", "The interval end must be after its start")
    return start_ms, end_ms


def _choice(body: dict[str, Any], name: str, allowed: tuple[str, ...]) -> Any:
    value = body.get(name, allowed[0])
    if value not in allowed:
        raise BadRequest("invalid.value", f"{name} must be one of {', '.join(allowed)}")
    return value


@dataclass(frozen=True, slots=True)
class _Query:
    start_ms: int
    end_ms: int
    order: data.Order
    order_by: data.OrderBy
    matcher: RecordFilter | None


def _query(body: dict[str, Any]) -> _Query:
    """Validate a job body; raises BadRequest as the platform would answer 400."""
    start_ms, end_ms = _interval(body.get("interval"))
    order = _choice(body, "order", get_args(data.Order))
    order_by = _choice(body, "orderBy", get_args(data.OrderBy))
    try:
        matcher = compile_filters(body)
    except ValueError as exc:
        raise BadRequest("bad.request", str(exc)) from None
    return _Query(start_ms, end_ms, order, order_by, matcher)


def _snapshot(sim: Simulator, query: _Query, available_ms: int) -> list[data.Arrival]:
    """The job's result set, fixed at submit: selected, filtered, ordered (runs in a thread)."""
    cfg = sim.config
    found = data.select(
        cfg.seed, cfg.conversations_per_hour, query.start_ms, query.end_ms, available_ms
    )
    if query.matcher is not None:
        distinct = cfg.distinct_conversations
        found = [a for a in found if query.matcher(data.record(a, available_ms, distinct=distinct))]
    return data.order_arrivals(found, query.order, query.order_by, available_ms)


def _over_cap(request: web.Request, sim: Simulator) -> web.Response | None:
    running = sim.running_jobs()
    if len(running) < sim.config.max_concurrent_jobs:
        return None
    now = sim.config.monotonic()
    wait = min(job.seconds_to_completion(now) for job in running) if running else 1.0
    return too_many_requests(request, max(1, math.ceil(wait)))


async def _submit(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    try:
        query = _query(await json_object(request))
    except BadRequest as exc:
        return error_response(request, exc.status, exc.code, exc.message)
    refused = _over_cap(request, sim)
    if refused is not None:
        return refused
    available_ms = sim.available_ms()
    arrivals = await asyncio.to_thread(_snapshot, sim, query, available_ms)
    refused = _over_cap(request, sim)  # checked again: other submits ran while we selected
    if refused is not None:
        return refused
    cfg = sim.config
    job = Job(
        job_id=str(uuid.uuid4()),
        submitted_mono=cfg.monotonic(),
        submitted_at=cfg.now(),
        queued_seconds=cfg.job_queued_seconds,
        pending_seconds=cfg.job_pending_seconds,
        expiry_seconds=cfg.job_expiry_seconds,
        arrivals=arrivals,
        available_ms=available_ms,
        outcome=sim.next_job_outcome(),
    )
    sim.jobs[job.job_id] = job
    return json_response({"jobId": job.job_id}, status=202)


def _job(request: web.Request) -> Job | None:
    return request.app[SIMULATOR].jobs.get(request.match_info["job_id"])


def _not_found(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    return error_response(request, 404, "not.found", f"Unable to find job {job_id}")


async def _status(request: web.Request) -> web.Response:
    job = _job(request)
    if job is None:
        return _not_found(request)
    return json_response(job.status_body(request.app[SIMULATOR].config.monotonic()))


async def _cancel(request: web.Request) -> web.Response:
    job = _job(request)
    if job is None:
        return _not_found(request)
    job.cancelled = True
    return web.Response(status=204)


def _page_size(request: web.Request, sim: Simulator) -> int:
    text = request.query.get("pageSize")
    if not text:
        return sim.config.results_page_size_default
    maximum = sim.config.results_page_size_max
    if not text.isdigit() or not 1 <= int(text) <= maximum:
        raise BadRequest("invalid.value", f"pageSize must be an integer from 1 to {maximum}")
    return int(text)


async def _results(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    job = _job(request)
    if job is None:
        return _not_found(request)
    state = job.state(sim.config.monotonic())
    if state == "EXPIRED":
        message = f"The results of job {job.job_id} have expired"
        return error_response(request, 404, "not.found", message)
    if state != "FULFILLED":
        message = f"Job {job.job_id} is {state}; results exist once it is FULFILLED"
        return error_response(request, 400, "bad.request", message)
    cursor = request.query.get("cursor")
    offset = job.offset_of(cursor) if cursor else 0
    if offset is None:
        return error_response(request, 400, "bad.request", "The cursor is not valid for this job")
    try:
        size = _page_size(request, sim)
    except BadRequest as exc:
        return error_response(request, 400, exc.code, exc.message)
    page = job.arrivals[offset : offset + size]
    distinct = sim.config.distinct_conversations
    records = await asyncio.to_thread(
        lambda: [data.record(a, job.available_ms, distinct=distinct) for a in page]
    )
    body: dict[str, Any] = {}
    if records or not sim.config.omit_empty_conversations:
        body["conversations"] = records
    if offset + len(page) < len(job.arrivals):
        body["cursor"] = job.cursor_at(offset + len(page))
    body["dataAvailabilityDate"] = format_ms(job.available_ms)
    return json_response(body)


async def _availability(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    return json_response({"dataAvailabilityDate": format_ms(sim.available_ms())})
