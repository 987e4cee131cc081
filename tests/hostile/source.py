"""A hostile Genesys Cloud source for Telephony: the documented API, served like an imperfect
platform behind an imperfect gateway.

Not the simulator's happy path: its own small aiohttp app (OAuth client credentials, analytics
conversation-details jobs: submit, status, cursor-paged results, DELETE, availability; reference
§2 and §5.1) serving deterministic conversations (the simulator's record builder, seeded), in
front of which one ``Misbehaviour`` is applied to the jobs of one window (or of every window):
pages repeated in and out of order, ``{}``/error JSON/HTML/invalid JSON with status 200, bodies
cut mid-stream, cursor loops and jumps back, jobs stuck or in an unknown state, a 10 MB record,
records without id or time, one id with two contents, a gateway that echoes the Authorization
header. ``times`` None: always; n: only the first n times it applies (transient).

The truth is ``truth()``: the ids of the honest conversations of the exported windows, plus the
named extras a misbehaviour adds (``extras``). Bounded: every job serves at most
``MAX_RESULTS_PER_JOB`` result pages, the server at most ``MAX_REQUESTS`` requests; loopback,
port 0. Deterministic: the same config serves the same conversations (ids, order, content)
whatever the date of its first window (token values and timestamps apart).
"""

from __future__ import annotations

import base64
import copy
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from aiohttp import web

from producer.platforms.genesys.simulator import data
from producer.platforms.genesys.simulator.timeline import epoch_ms, format_ms
from tests.fixtures.simulator import TELEPHONY_CLIENT

__all__ = [
    "ALL_WINDOWS",
    "FAULT_STEP",
    "HUGE_BYTES",
    "JOBS",
    "MAX_REQUESTS",
    "MAX_RESULTS_PER_JOB",
    "OVER_STREAM_BYTES",
    "REFERENCE",
    "HostileSource",
    "Kind",
    "Misbehaviour",
    "RunningSource",
    "serve_hostile",
]

JOBS = "/api/v2/analytics/conversations/details/jobs"
ALL_WINDOWS = -1
FAULT_STEP = 1  # page faults hit the second page: a page that a cursor promised
HUGE_BYTES = 10 * 1024 * 1024
OVER_STREAM_BYTES = 1024 * 1024 + 4096  # a mapped field past Kinesis' 1 MiB record limit
MAX_RESULTS_PER_JOB = 60
MAX_REQUESTS = 3000
REFERENCE = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)  # the first window's data, whatever its date
_SEEN_AFTER = timedelta(hours=2)  # records are served as seen this long after their window
_DISTINCT = 8  # the simulator's fast record mode: 8 bodies per kind, own ids and times

Kind = Literal[
    "honest",
    # repeats, in and out of order
    "repeat_same_page",
    "repeat_earlier_page",
    "repeat_first_page_late",
    "cursor_jumps_back",
    "duplicate_id_adjacent",
    "duplicate_id_far",
    # pages that are not pages (status 200)
    "empty_object_200",
    "error_body_200",
    "html_200",
    "invalid_json",
    "truncated_cut",
    # paging and job states
    "cursor_loop",
    "job_stuck",
    "job_unknown_state",
    # odd records
    "huge_record",
    "record_over_stream_limit",
    "record_changed",
    "records_without_ids_or_times",
    # gateway
    "token_echo",
]

_SCRIPTS: dict[str, Callable[[int], list[int]]] = {
    "repeat_same_page": lambda n: [0, 1, 1, *range(2, n)],
    "repeat_earlier_page": lambda n: [0, 1, 2, 1, *range(3, n)],
    "repeat_first_page_late": lambda n: [*range(n), 0],
    "cursor_jumps_back": lambda n: [0, 1, 2, 0, 1, *range(2, n)],
}
_PAGE_FAULTS = frozenset(
    {
        "empty_object_200",
        "error_body_200",
        "html_200",
        "invalid_json",
        "truncated_cut",
        "token_echo",
    }
)
_FIXED_BODIES: dict[str, tuple[str, bytes]] = {  # a 200 that is not a page
    "empty_object_200": ("application/json", b"{}"),
    "error_body_200": (
        "application/json",
        b'{"message": "upstream request timeout", "status": 504}',
    ),
    "html_200": (
        "text/html",
        b"<html><head><title>502 Bad Gateway</title></head><body>bad</body></html>",
    ),
    "invalid_json": ("application/json", b'{"conversations": [{"conversationId": "'),
}


@dataclass(frozen=True, slots=True)
class Misbehaviour:
    """What goes wrong: ``kind``, for the jobs of window ``window`` (``ALL_WINDOWS``: every
    one), always (``times`` None) or only the first ``times`` times it applies."""

    kind: Kind
    times: int | None = None
    window: int = 1


@dataclass
class _Job:
    job_id: str
    window: int
    start_ms: int
    end_ms: int
    armed: bool  # this job carries a job-level misbehaviour
    polls: int = 0
    results: int = 0
    steps: list[int] | None = None
    pages: list[list[dict[str, Any]]] = field(default_factory=list)
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class Served:
    """One request as the source saw it: what, which job step, the status, the fault served."""

    method: str
    path: str
    step: int | None
    status: int
    fault: str | None


class HostileSource:
    """The state of one hostile source: config, the misbehaviour, jobs, tokens, observations."""

    def __init__(
        self,
        *,
        first_window: datetime,
        windows: int = 2,
        window_seconds: int = 900,
        per_hour: float = 60.0,
        seed: int = 16,
        misbehaviour: Misbehaviour | None = None,
        client: tuple[str, str] = TELEPHONY_CLIENT,
    ) -> None:
        self.first_window = first_window
        self.windows = windows
        self.window_seconds = window_seconds
        self.per_hour = per_hour
        self.seed = seed
        self.misbehaviour = misbehaviour
        self.client = client
        self.jobs: dict[str, _Job] = {}
        self.tokens: list[str] = []
        self.served: list[Served] = []
        self.fired = 0  # how many times the misbehaviour applied
        self.extras: dict[str, str] = {}  # named extra record -> the DLQ rule it must carry
        self.requests = 0

    # -- truth and observations --

    @property
    def watermark(self) -> datetime:
        """The end of the last window: the data availability date the source announces."""
        return self.first_window + timedelta(seconds=self.window_seconds * self.windows)

    def window_bounds(self, index: int) -> tuple[datetime, datetime]:
        start = self.first_window + timedelta(seconds=self.window_seconds * index)
        return start, start + timedelta(seconds=self.window_seconds)

    def honest(self, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """The conversations that started in ``[start_ms, end_ms)``, by start, all ended."""
        # The same conversations whatever the date: those of the reference hours, moved.
        shift = epoch_ms(self.first_window) - epoch_ms(REFERENCE)
        seen_ms = end_ms + int(_SEEN_AFTER.total_seconds() * 1000)
        arrivals = data.arrivals_between(self.seed, self.per_hour, start_ms - shift, end_ms - shift)
        return [
            data.record(
                replace(arrival, start_ms=arrival.start_ms + shift), seen_ms, distinct=_DISTINCT
            )
            for arrival in arrivals
        ]

    def truth(self, windows: range | None = None) -> set[str]:
        """The honest ids of ``windows`` (all by default)."""
        ids: set[str] = set()
        for index in windows if windows is not None else range(self.windows):
            start, end = self.window_bounds(index)
            ids.update(r["conversationId"] for r in self.honest(epoch_ms(start), epoch_ms(end)))
        return ids

    def faults_served(self) -> int:
        """Responses that carried the misbehaviour (page faults) or jobs that did (job level)."""
        return self.fired

    def behave(self) -> None:
        """From now on, the source behaves."""
        self.misbehaviour = None

    # -- decisions --

    def _targets(self, window: int) -> bool:
        mis = self.misbehaviour
        return mis is not None and mis.window in (ALL_WINDOWS, window)

    def _take(self) -> bool:
        """Apply the misbehaviour once more, if it has times left."""
        mis = self.misbehaviour
        assert mis is not None
        if mis.times is not None and self.fired >= mis.times:
            return False
        self.fired += 1
        return True

    def fault_for(self, job: _Job, step: int) -> str | None:
        mis = self.misbehaviour
        if mis is None or mis.kind not in _PAGE_FAULTS or step != FAULT_STEP:
            return None
        if not self._targets(job.window) or not self._take():
            return None
        return mis.kind

    def new_job(self, start_ms: int, end_ms: int) -> _Job:
        first_ms = epoch_ms(self.first_window)
        window = (start_ms - first_ms) // (self.window_seconds * 1000)
        mis = self.misbehaviour
        armed = (
            mis is not None
            and mis.kind not in _PAGE_FAULTS
            and mis.kind != "honest"
            and self._targets(window)
            and self._take()
        )
        job = _Job(secrets.token_hex(8), window, start_ms, end_ms, armed)
        self.jobs[job.job_id] = job
        return job

    def layout(self, job: _Job, page_size: int) -> None:
        """The job's pages and the order it serves them in (its steps), on its first page."""
        records = self.honest(job.start_ms, job.end_ms)
        pages = [records[i : i + page_size] for i in range(0, len(records), page_size)] or [[]]
        kind = self.misbehaviour.kind if job.armed and self.misbehaviour else "honest"
        if len(pages) < 3 and kind != "honest":
            raise AssertionError(
                f"window {job.window} has {len(pages)} pages: too few to misbehave"
            )
        job.steps = _SCRIPTS[kind](len(pages)) if kind in _SCRIPTS else list(range(len(pages)))
        job.pages = [[copy.deepcopy(r) for r in page] for page in pages]
        tag = f"w{job.window}"
        if kind == "huge_record":
            first = job.pages[FAULT_STEP][0]
            first.setdefault("participants", [{}])[0].setdefault("attributes", {})[
                "hostilePadding"
            ] = "x" * HUGE_BYTES
        elif kind == "record_over_stream_limit":
            first = job.pages[FAULT_STEP][0]
            session = first["participants"][0]["sessions"][0]
            session["outboundCampaignId"] = f"campaign-{tag}-" + "c" * OVER_STREAM_BYTES
        elif kind == "record_changed":  # a late update: one conversation ends a minute later
            first = job.pages[FAULT_STEP][0]
            end = datetime.fromisoformat(first["conversationEnd"].replace("Z", "+00:00"))
            first["conversationEnd"] = format_ms(epoch_ms(end + timedelta(seconds=61)))
        elif kind == "records_without_ids_or_times":
            base = job.pages[FAULT_STEP][0]
            no_id = copy.deepcopy(base)
            del no_id["conversationId"]
            no_id["hostileTag"] = f"no-id-{tag}"
            no_time = copy.deepcopy(base)
            del no_time["conversationStart"]
            no_time["conversationId"] = f"hostile-no-time-{tag}"
            job.pages[FAULT_STEP].extend([no_id, no_time])
            self.extras[f"no-id-{tag}"] = "required"
            self.extras[f"hostile-no-time-{tag}"] = "format"
        elif kind in ("duplicate_id_adjacent", "duplicate_id_far"):
            page = job.pages[FAULT_STEP] if kind == "duplicate_id_adjacent" else job.pages[0]
            other = copy.deepcopy(page[0])
            end = datetime.fromisoformat(other["conversationEnd"].replace("Z", "+00:00"))
            other["conversationEnd"] = format_ms(epoch_ms(end + timedelta(seconds=61)))
            if kind == "duplicate_id_adjacent":
                page.insert(1, other)
            else:
                job.pages[-1].append(other)


def _cursor(job: _Job, step: int) -> str:
    return base64.urlsafe_b64encode(f"{job.job_id}:{step}".encode()).decode().rstrip("=")


def _step_of(job: _Job, cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    job_id, _, step = text.partition(":")
    return int(step) if job_id == job.job_id and step.isdigit() else None


_SOURCE: web.AppKey[HostileSource] = web.AppKey("hostile_source", HostileSource)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _error(status: int, code: str, message: str) -> web.Response:
    return _json({"message": message, "code": code, "status": status}, status)


def _iso(instant: datetime) -> str:
    return format_ms(epoch_ms(instant.astimezone(UTC)))


@web.middleware
async def _guard(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    """Bounded, and every API call needs a token the source issued."""
    source = request.app[_SOURCE]
    source.requests += 1
    if source.requests > MAX_REQUESTS:
        return _error(503, "service.unavailable", "request bound of the test source reached")
    if request.path.startswith("/api/"):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token not in source.tokens:
            return _error(401, "bad.credentials", "Invalid login credentials.")
    response: web.StreamResponse = await handler(request)
    return response


async def _token(request: web.Request) -> web.Response:
    source = request.app[_SOURCE]
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    try:
        given = base64.b64decode(encoded).decode() if scheme.lower() == "basic" else ""
    except (ValueError, UnicodeDecodeError):
        given = ""
    if given != ":".join(source.client):
        body = {"error": "invalid_client", "error_description": "authentication failed"}
        return _json(body, 401)
    token = f"hostile-{secrets.token_hex(16)}"
    source.tokens.append(token)
    return _json({"access_token": token, "token_type": "bearer", "expires_in": 86399})


async def _availability(request: web.Request) -> web.Response:
    return _json({"dataAvailabilityDate": _iso(request.app[_SOURCE].watermark)})


async def _submit(request: web.Request) -> web.Response:
    source = request.app[_SOURCE]
    body = await request.json()
    start_text, _, end_text = str(body.get("interval", "")).partition("/")
    try:
        start = datetime.fromisoformat(start_text.replace("Z", "+00:00"))
        end = datetime.fromisoformat(end_text.replace("Z", "+00:00"))
    except ValueError:
        return _error(400, "invalid.date", "Invalid interval")
    job = source.new_job(epoch_ms(start), epoch_ms(end))
    return _json({"jobId": job.job_id}, 202)


def _job(request: web.Request) -> _Job | None:
    return request.app[_SOURCE].jobs.get(request.match_info["job_id"])


async def _status(request: web.Request) -> web.Response:
    source = request.app[_SOURCE]
    job = _job(request)
    if job is None:
        return _error(404, "not.found", "Unable to find job")
    job.polls += 1
    state = "FULFILLED" if job.polls > 1 else "QUEUED"
    kind = source.misbehaviour.kind if job.armed and source.misbehaviour else None
    if kind == "job_stuck":
        state = "PENDING"
    elif kind == "job_unknown_state" and job.polls > 1:
        state = "COMPLETED"
    return _json({"state": state, "submissionDate": _iso(datetime.now(UTC))})


async def _delete(request: web.Request) -> web.Response:
    job = _job(request)
    if job is None:
        return _error(404, "not.found", "Unable to find job")
    job.deleted = True
    return web.Response(status=204)


async def _results(request: web.Request) -> web.StreamResponse:
    source = request.app[_SOURCE]
    job = _job(request)
    if job is None or job.deleted:
        return _error(404, "not.found", "Unable to find job")
    job.results += 1
    if job.results > MAX_RESULTS_PER_JOB:
        return _error(404, "not.found", "The results of this job have expired")
    if job.steps is None:
        source.layout(job, int(request.query.get("pageSize") or 100))
    assert job.steps is not None
    cursor = request.query.get("cursor")
    step = _step_of(job, cursor) if cursor else 0
    if step is None or step >= len(job.steps):
        return _error(400, "bad.request", "The cursor is not valid for this job")
    fault = _page_fault(source, job, step, request)
    response = fault if fault is not None else _page(source, job, step)
    source.served.append(
        Served("GET", request.path, step, response.status, None if fault is None else "fault")
    )
    return response


def _page_fault(
    source: HostileSource, job: _Job, step: int, request: web.Request
) -> web.StreamResponse | None:
    kind = source.fault_for(job, step)
    if kind is None:
        return None
    fixed = _FIXED_BODIES.get(kind)
    if fixed is not None:
        content_type, body = fixed
        return web.Response(status=200, body=body, content_type=content_type)
    if kind == "token_echo":
        echoed = request.headers.get("Authorization", "")
        message = f"upstream connect error; request headers: Authorization: {echoed}"
        return _json({"message": message, "code": "service.unavailable", "status": 503}, 503)
    # truncated_cut: a Content-Length longer than what is sent, then the connection closes.
    full = _page_body(source, job, step)
    transport = request.transport
    assert transport is not None
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(full)}\r\nConnection: close\r\n\r\n"
    )
    transport.write(head.encode() + full[: len(full) // 2])
    transport.close()
    return web.Response(status=200)  # never reaches the client: the socket is closed


def _page_body(source: HostileSource, job: _Job, step: int) -> bytes:
    assert job.steps is not None
    body: dict[str, Any] = {"conversations": job.pages[job.steps[step]]}
    armed = source.misbehaviour.kind if job.armed and source.misbehaviour else None
    if step + 1 < len(job.steps):
        body["cursor"] = _cursor(job, step + 1)
    elif armed == "cursor_loop":
        body["cursor"] = _cursor(job, 1)  # the last page points back: a loop
    body["dataAvailabilityDate"] = _iso(source.watermark)
    return orjson.dumps(body)


def _page(source: HostileSource, job: _Job, step: int) -> web.Response:
    return web.Response(
        status=200, body=_page_body(source, job, step), content_type="application/json"
    )


def create_app(source: HostileSource) -> web.Application:
    app = web.Application(middlewares=[_guard], client_max_size=1024**2)
    app[_SOURCE] = source
    app.router.add_post("/oauth/token", _token)
    app.router.add_get(f"{JOBS}/availability", _availability)
    app.router.add_post(JOBS, _submit)
    app.router.add_get(f"{JOBS}/{{job_id}}", _status)
    app.router.add_delete(f"{JOBS}/{{job_id}}", _delete)
    app.router.add_get(f"{JOBS}/{{job_id}}/results", _results)
    return app


@dataclass(frozen=True, slots=True)
class RunningSource:
    """A served hostile source: ``base_url`` is both the login and the API host."""

    base_url: str
    source: HostileSource


@asynccontextmanager
async def serve_hostile(source: HostileSource) -> AsyncIterator[RunningSource]:
    """Serve ``source`` on 127.0.0.1, a free port, for the duration of the block."""
    runner = web.AppRunner(
        create_app(source), handler_cancellation=True, access_log=None, shutdown_timeout=1.0
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        yield RunningSource(f"http://127.0.0.1:{port}", source)
    finally:
        await runner.cleanup()
