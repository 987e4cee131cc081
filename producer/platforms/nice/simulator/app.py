"""CXone simulator apps: the area (auth) host and the API host, as the reference sheet §6 says.

Area host: ``POST /authentication/v1/token/access-key`` (JSON key id and secret -> token,
``expires_in``, ``id_token`` with ``tenantId``; a bad key is a 401), ``GET
/.well-known/cxone-configuration?tenantId=`` (no auth; names the API host), the Data Extraction
API under ``/data-extraction/v1`` (bearer; one call per tenant per interval, else 403; jobs
``RUNNING`` -> ``SUCCEEDED``/``FAILED``/``CANCELLED``, ``EXPIRED`` after retention) and the
result files (pre-signed: expired after ``url_ttl_seconds`` -> 403, a second credential -> 400).
API host: only ``/inContactAPI/services/v{NN}.0/...`` (matched case-insensitively, versions from
the config), bearer checked (expired or revoked -> 401), a per-token budget (429 without
``Retry-After``, text in ``icStatusDescription``), ``contacts/completed`` with skip/top paging,
``_links``, 204 when nothing (more) matches. The Genesys simulator's ``FaultPlan`` switches
(fail, throttle, reset, bad pages) apply on both hosts; a throttle armed with a ``retry_after``
sends it, as a gateway in front of the tenant would. Every request is recorded.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from producer.platforms.genesys.simulator.faults import Fault
from producer.platforms.nice.simulator import data
from producer.platforms.nice.simulator.state import (
    ExtractionCall,
    NiceSimulator,
    RequestRecord,
    fingerprint,
)

__all__ = ["NICE_SIMULATOR", "create_api_app", "create_area_app"]

NICE_SIMULATOR = web.AppKey("nice_simulator", NiceSimulator)
_KEY_ID = web.RequestKey("key_id", str)
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_BASE = re.compile(r"^/incontactapi/services/(v\d+\.0)(/.*)?$", re.IGNORECASE)
_HTML_ERROR = "<html><body><h1>502 Bad Gateway</h1></body></html>\n"
_CSV_TYPE = "text/csv"


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _error(status: int, error: str, description: str) -> web.Response:
    response = _json({"error": error, "error_description": description}, status)
    response.headers["icStatusDescription"] = description
    return response


def _s3_error(status: int, code: str, message: str) -> web.Response:
    text = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return web.Response(status=status, text=text, content_type="application/xml")


# -- shared middlewares ----------------------------------------------------------------------


def _observe(host: str) -> Any:
    @web.middleware
    async def observe(request: web.Request, handler: _Handler) -> web.StreamResponse:
        sim = request.app[NICE_SIMULATOR]
        token = _bearer(request)
        status = 0
        try:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = _error(exc.status, "not_found", exc.reason)
            status = response.status
            return response
        finally:
            sim.requests.append(
                RequestRecord(
                    "area" if host == "area" else "api",
                    request.method,
                    request.path,
                    request.query_string,
                    status,
                    fingerprint(token) if token else None,
                )
            )

    return observe


@web.middleware
async def _faults(request: web.Request, handler: _Handler) -> web.StreamResponse:
    sim = request.app[NICE_SIMULATOR]
    fault = sim.faults.take_outcome(request.path)
    if fault is None:
        return await handler(request)
    canned = _canned(request, fault)
    if canned is not None:
        return canned
    response = await handler(request)
    body = response.body if isinstance(response, web.Response) else None
    if isinstance(body, bytes) and response.status == 200:  # truncate and the rest: cut in half
        cut = web.Response(status=200, body=body[: len(body) // 2])
        cut.content_type = response.content_type
        return cut
    return response


def _throttled(retry_after: float | None) -> web.Response:
    response = _error(429, "too_many_requests", "Rate limit exceeded")
    if retry_after is not None:
        response.headers["Retry-After"] = f"{retry_after:g}"
    return response


def _canned(request: web.Request, fault: Fault) -> web.Response | None:
    """The answer a fault gives instead of the real one; None for those that spoil it."""
    kind, status = fault.kind, fault.status
    if kind == "reset":
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=204)  # never reaches the client: the socket is gone
    canned: dict[str, Callable[[], web.Response]] = {
        "fail": lambda: _error(status, "server_error", "Service unavailable"),
        # CXone sends no reliable Retry-After (reference §5): only a throttle armed with one
        # (what a gateway in front of the tenant sends) carries it
        "throttle": lambda: _throttled(fault.retry_after),
        "malformed": lambda: web.Response(status=200, text=_HTML_ERROR, content_type="text/html"),
        "empty": lambda: _json({}),
        "not_json": lambda: web.Response(
            status=200, text="upstream timeout\n", content_type="application/json"
        ),
        "error_body": lambda: _json({"message": "upstream request timeout", "status": 504}),
    }
    make = canned.get(kind)
    return make() if make is not None else None


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:] if header[:7].lower() == "bearer " and header[7:] else None


def _authenticated(request: web.Request) -> web.Response | None:
    """None when the bearer is live (its key id stored on the request), else the 401."""
    sim = request.app[NICE_SIMULATOR]
    token = _bearer(request)
    key_id = sim.key_of(token) if token else None
    if key_id is None:
        return _error(401, "invalid_token", "The access token is invalid or has expired")
    request[_KEY_ID] = key_id
    return None


# -- area host -------------------------------------------------------------------------------


def create_area_app(sim: NiceSimulator) -> web.Application:
    """The area (auth) host: token, discovery, Data Extraction and result files."""
    app = web.Application(middlewares=[_observe("area"), _faults])
    app[NICE_SIMULATOR] = sim
    app.router.add_post("/authentication/v1/token/access-key", _access_key)
    app.router.add_get("/.well-known/cxone-configuration", _discovery)
    app.router.add_post("/data-extraction/v1/jobs", _create_job)
    app.router.add_get("/data-extraction/v1/jobs", _list_jobs)
    app.router.add_get("/data-extraction/v1/jobs/{job_id}", _get_job)
    app.router.add_get("/results/{job_id}.csv", _download)
    return app


def _b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()


async def _json_object(request: web.Request) -> dict[str, Any] | None:
    """The request's body as a JSON object, or None when it is not one."""
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


async def _access_key(request: web.Request) -> web.Response:
    sim = request.app[NICE_SIMULATOR]
    body = await _json_object(request)
    if body is None:
        return _error(400, "invalid_request", "Body must be JSON")
    key_id, secret = body.get("accessKeyId"), body.get("accessKeySecret")
    expected = sim.config.access_keys.get(key_id) if isinstance(key_id, str) else None
    if expected is None or not isinstance(secret, str) or not hmac.compare_digest(expected, secret):
        return _error(401, "invalid_client", "Invalid access key")
    assert isinstance(key_id, str)
    token = sim.issue_token(key_id)
    lifetime = sim.config.token_lifetime_seconds
    claims = {
        "iss": sim.auth_url,
        "tenantId": sim.config.tenant_id,
        "icBUId": sim.config.business_unit_id,
        "icClusterId": sim.config.cluster.upper(),
        "exp": int(sim.config.now().timestamp()) + lifetime,
    }
    id_token = f"{_b64({'alg': 'RS256', 'typ': 'JWT'})}.{_b64(claims)}.c2ltdWxhdGVk"
    return _json(
        {
            "access_token": token,
            "refresh_token": f"r-{token[:8]}",
            "token_type": "Bearer",
            "expires_in": lifetime,
            "id_token": id_token,
        }
    )


async def _discovery(request: web.Request) -> web.Response:
    sim = request.app[NICE_SIMULATOR]
    if request.query.get("tenantId") != sim.config.tenant_id:
        return _error(404, "not_found", "Unknown tenant")
    return _json(
        {
            "api_endpoint": sim.api_url,
            "auth_endpoint": sim.auth_url,
            "area": sim.config.area,
            "cluster": sim.config.cluster.upper(),
            "domain": "niceincontact.com",
        }
    )


def _extraction_gate(request: web.Request) -> web.Response | None:
    """Auth, then the tenant rule (403, not 429); every call is recorded."""
    refused = _authenticated(request)
    if refused is not None:
        return refused
    sim = request.app[NICE_SIMULATOR]
    allowed = sim.extraction_allowed()
    sim.extraction_calls.append(
        ExtractionCall(
            sim.config.monotonic(),
            request[_KEY_ID],
            request.method,
            request.path,
            200 if allowed else 403,
        )
    )
    if not allowed:
        return _error(403, "forbidden", "Only one request per 30 seconds per tenant is allowed")
    return None


def _day(value: Any) -> date | None:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


async def _create_job(request: web.Request) -> web.Response:
    refused = _extraction_gate(request)
    if refused is not None:
        return refused
    sim = request.app[NICE_SIMULATOR]
    body = await _json_object(request)
    if body is None:
        return _error(400, "invalid_request", "Body must be JSON")
    if (
        body.get("entityName") != "qm-workflows"
        or body.get("version") not in sim.config.qm_versions
    ):
        return _error(400, "invalid_request", "Unknown entityName or version")
    start, end = _day(body.get("startDate")), _day(body.get("endDate"))
    if start is None or end is None or end < start:
        return _error(400, "invalid_request", "startDate and endDate must be YYYY-MM-DD")
    job = sim.create_job("qm-workflows", start.isoformat(), end.isoformat())
    return _json(job.id, 202)


async def _list_jobs(request: web.Request) -> web.Response:
    refused = _extraction_gate(request)
    if refused is not None:
        return refused
    sim = request.app[NICE_SIMULATOR]
    return _json({"jobs": [{"id": j.id, "status": sim.job_state(j)} for j in sim.jobs.values()]})


def _signature(sim: NiceSimulator, job_id: str, issued: str) -> str:
    return hmac.new(sim.signing_key, f"{job_id}:{issued}".encode(), hashlib.sha256).hexdigest()


async def _get_job(request: web.Request) -> web.Response:
    refused = _extraction_gate(request)
    if refused is not None:
        return refused
    sim = request.app[NICE_SIMULATOR]
    job = sim.jobs.get(request.match_info["job_id"])
    if job is None:
        return _error(404, "not_found", "Unknown job")
    state = sim.job_state(job)
    status: dict[str, Any] = {"id": job.id, "status": state}
    if state == "SUCCEEDED":
        issued = f"{sim.url_issued_at():.6f}"
        query = urlencode(
            {
                "X-Amz-Date": issued,
                "X-Amz-Expires": f"{sim.config.url_ttl_seconds:g}",
                "X-Amz-Signature": _signature(sim, job.id, issued),
            }
        )
        status["result"] = {"url": f"{sim.auth_url}/results/{job.id}.csv?{query}"}
    elif state == "FAILED":
        status["result"] = {"errorMessage": job.message}
    return _json({"jobStatus": status})


async def _download(request: web.Request) -> web.Response:
    sim = request.app[NICE_SIMULATOR]
    if "Authorization" in request.headers:
        return _s3_error(400, "InvalidArgument", "Only one auth mechanism allowed")
    job = sim.jobs.get(request.match_info["job_id"])
    issued = request.query.get("X-Amz-Date", "")
    signature = request.query.get("X-Amz-Signature", "")
    if job is None or not hmac.compare_digest(signature, _signature(sim, job.id, issued)):
        return _s3_error(403, "SignatureDoesNotMatch", "The request signature does not match")
    if sim.config.monotonic() > float(issued) + sim.config.url_ttl_seconds:
        return _s3_error(403, "AccessDenied", "Request has expired")
    body = _csv(sim, date.fromisoformat(job.start), date.fromisoformat(job.end)).encode()
    spoil = sim.take_download_spoil()
    if spoil == "empty":
        body = b""
    elif spoil == "truncate":
        body = body[: len(body) * 2 // 3]
        body = body[: body.rfind(b",") + 1] if b"," in body else body  # cut mid-row
    return web.Response(status=200, body=body, content_type=_CSV_TYPE)


_CSV_CACHE_DAYS = 16


def _csv(sim: NiceSimulator, first: date, last: date) -> str:
    """Rows of the workflows submitted on days ``first..last`` (inclusive) and not in future."""
    config = sim.config
    now = config.now()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(data.CSV_HEADERS)
    writer.writerows(row for submitted, row in _day_rows(sim, first, last) if submitted <= now)
    return out.getvalue()


def _day_rows(sim: NiceSimulator, first: date, last: date) -> list[tuple[datetime, list[str]]]:
    """Every workflow row submitted on days ``first..last``, with its submission instant (built
    once per set of days: the data are a function of the configuration)."""
    config = sim.config
    key = (first, last, config.epoch, config.contacts_per_hour, config.seed)
    found = sim.csv_rows.get(key)
    if found is not None:
        return found
    lo = datetime(first.year, first.month, first.day, tzinfo=config.epoch.tzinfo)
    hi = datetime(last.year, last.month, last.day, tzinfo=config.epoch.tzinfo) + timedelta(days=1)
    rows: list[tuple[datetime, list[str]]] = []
    shifted = lo - timedelta(hours=3)  # submissions come ~2 h after the contact ends
    for index in data.indexes_between(config.epoch, config.contacts_per_hour, shifted, hi):
        item = data.contact(config.epoch, config.contacts_per_hour, config.seed, index)
        row = data.workflow_row(item, config.seed, "Simulated tenant")
        if row is None:
            continue
        submitted = datetime.fromisoformat(row["Submission Date"].replace("Z", "+00:00"))
        if lo <= submitted < hi:
            rows.append((submitted, list(row.values())))
    if len(sim.csv_rows) >= _CSV_CACHE_DAYS:  # a long-running simulator: keep the newest
        del sim.csv_rows[next(iter(sim.csv_rows))]
    sim.csv_rows[key] = rows
    return rows


# -- API host --------------------------------------------------------------------------------


def create_api_app(sim: NiceSimulator) -> web.Application:
    """The API host: the versioned Reporting base only (everything else is a 404)."""
    app = web.Application(middlewares=[_observe("api"), _faults])
    app[NICE_SIMULATOR] = sim
    app.router.add_route("*", "/{tail:.*}", _reporting)
    return app


async def _reporting(request: web.Request) -> web.Response:
    sim = request.app[NICE_SIMULATOR]
    match = _BASE.match(request.path)
    if match is None or match.group(1).lower() not in {v.lower() for v in sim.config.api_versions}:
        return _error(404, "not_found", "No known resource")
    refused = _authenticated(request)
    if refused is not None:
        return refused
    token = _bearer(request)
    assert token is not None
    if sim.over_rate(token):
        return _error(429, "too_many_requests", "Rate limit exceeded")
    if "json" not in request.headers.get("Accept", ""):
        return _error(406, "not_acceptable", "No known way to render data")
    rest = (match.group(2) or "").rstrip("/").lower()
    if rest == "/contacts/completed" and request.method == "GET":
        return _completed(request, sim)
    return _error(404, "not_found", "No known resource")


def _instant(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _int(value: str | None, default: int) -> int | None:
    if value is None:
        return default
    return int(value) if value.isdigit() else None


def _completed(request: web.Request, sim: NiceSimulator) -> web.Response:
    config = sim.config
    query = request.query
    lo, hi = _instant(query.get("startDate")), _instant(query.get("endDate"))
    if lo is None or hi is None or hi <= lo:
        return _error(400, "invalid_request", "startDate and endDate must be ISO 8601 in UTC")
    top, skip = _int(query.get("top"), config.default_top), _int(query.get("skip"), 0)
    if top is None or skip is None or not 1 <= top <= config.max_top:
        return _error(400, "invalid_request", f"top must be 1..{config.max_top}")
    order = query.get("orderBy")
    if order not in (None, "lastUpdateTime asc"):
        return _error(400, "invalid_request", "Unsupported orderBy")
    updated_since = _instant(query.get("updatedSince"))
    now = config.now()
    lag = timedelta(seconds=config.report_lag_seconds)
    found: list[data.Contact] = []
    for index in data.indexes_between(config.epoch, config.contacts_per_hour, lo, hi):
        item = data.contact(config.epoch, config.contacts_per_hour, config.seed, index)
        key = item.start if config.date_filter == "start" else item.end
        if not lo <= key < hi or item.end + lag > now:
            continue
        if updated_since is not None and item.updated < updated_since:
            continue
        found.append(item)
    if order is not None:
        found.sort(key=lambda item: (item.updated, item.index))
    skip = max(0, skip + sim.page_shift(skip))
    page = found[skip : skip + top]
    if not page:
        return web.Response(status=204)
    base = f"{sim.api_url}{request.path}"

    def link(at: int) -> str:
        return f"{base}?{urlencode({**query, 'skip': str(at), 'top': str(top)})}"

    more = skip + top < len(found)
    return _json(
        {
            "_links": {
                "self": link(skip),
                "next": link(skip + top) if more else None,
                "previous": link(max(0, skip - top)) if skip > 0 else None,
            },
            "businessUnitId": config.business_unit_id,
            "lastPollTime": data.iso(now),
            "totalRecords": len(found),
            "completedContacts": [item.body for item in page],
        }
    )
