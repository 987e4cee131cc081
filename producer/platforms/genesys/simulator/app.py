"""Simulator app: the aiohttp application factory and the platform-wide middlewares.

Outermost first: observe (``ININ-Correlation-Id``, request log), authenticate (bearer token on
``/api/v2``), rate limit (per-token sliding window, ``inin-ratelimit-*`` headers), inject faults
(the switches armed on ``Simulator``). Routes come from one module per API (``oauth``,
``analytics``; quality and WFM add theirs to ``_ROUTE_MODULES``). Holds no state itself.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from producer.platforms.genesys.simulator import analytics, oauth, quality, wfm
from producer.platforms.genesys.simulator.faults import Fault
from producer.platforms.genesys.simulator.permissions import missing_permission
from producer.platforms.genesys.simulator.responses import (
    BEARER_TOKEN,
    CLIENT_ID,
    CORRELATION_ID,
    SIMULATOR,
    TOKEN_FINGERPRINT,
    error_response,
    json_response,
    too_many_requests,
)
from producer.platforms.genesys.simulator.state import RequestRecord, Simulator

__all__ = ["create_app"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_ROUTE_MODULES: tuple[Callable[[web.Application], None], ...] = (
    oauth.add_routes,
    analytics.add_routes,
    wfm.add_routes,
    quality.add_routes,
)
_API_PREFIX = "/api/v2/"
_DROPPED = web.RequestKey("dropped", bool)
_GATEWAY_ERROR = {"message": "upstream request timeout", "status": 504}
_HTML_ERROR_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
    "<body><h1>502 Bad Gateway</h1><p>The upstream server did not respond.</p></body></html>\n"
)


def create_app(sim: Simulator) -> web.Application:
    """A fresh aiohttp app serving ``/oauth/token`` and ``/api/v2`` on one origin for ``sim``."""
    app = web.Application(
        middlewares=[_observe, _authenticate, _authorize, _rate_limit, _inject_faults]
    )
    app[SIMULATOR] = sim
    for add_routes in _ROUTE_MODULES:
        add_routes(app)
    return app


@web.middleware
async def _observe(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Give every response a correlation id and log every request (status 0: dropped)."""
    sim = request.app[SIMULATOR]
    arrived = sim.config.monotonic()
    correlation_id = str(uuid.uuid4())
    request[CORRELATION_ID] = correlation_id
    status = 0
    retry_after: str | None = None
    try:
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # the router's own 404/405
            response = error_response(request, exc.status)
        if not request.get(_DROPPED, False):
            status = response.status
            retry_after = response.headers.get("Retry-After")
        response.headers["ININ-Correlation-Id"] = correlation_id
        return response
    finally:
        sim.record(
            RequestRecord(
                time=arrived,
                method=request.method,
                path=request.path,
                query=request.query_string,
                status=status,
                token_fingerprint=request.get(TOKEN_FINGERPRINT),
                client_id=request.get(CLIENT_ID),
                correlation_id=correlation_id,
                priority=request.headers.get("x-priority"),
                retry_after=retry_after,
            )
        )


@web.middleware
async def _authenticate(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """401 for an API call without a valid bearer token (§2.4)."""
    if not request.path.startswith(_API_PREFIX):
        return await handler(request)
    header = request.headers.get("Authorization", "")
    if not header:
        message = "No authentication bearer token specified in authorization header."
        return error_response(request, 401, "authentication.required", message)
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return error_response(request, 401, "bad.credentials", "Invalid login credentials.")
    grant = request.app[SIMULATOR].check_token(token)
    request[TOKEN_FINGERPRINT] = grant.fingerprint
    if grant.client_id is not None:
        request[CLIENT_ID] = grant.client_id
    if grant.status != "valid":
        return error_response(request, 401, "bad.credentials", "Invalid login credentials.")
    request[BEARER_TOKEN] = token
    return await handler(request)


@web.middleware
async def _authorize(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """403 ``missing.permissions`` when the client's role lacks the path's permission."""
    held = request.app[SIMULATOR].config.client_permissions.get(request.get(CLIENT_ID, ""))
    if held is not None and request.path.startswith(_API_PREFIX):
        missing = missing_permission(request.path, held)
        if missing is not None:
            message = (
                "Unable to perform the requested action. You are missing the following "
                f"permission(s): [{missing}]"
            )
            return error_response(request, 403, "missing.permissions", message)
    return await handler(request)


@web.middleware
async def _rate_limit(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Per-token sliding 60 s window: 429 + ``Retry-After`` when full; budget headers always."""
    fingerprint = request.get(TOKEN_FINGERPRINT)
    if fingerprint is None or BEARER_TOKEN not in request:
        return await handler(request)
    decision = request.app[SIMULATOR].take_slot(fingerprint)
    if decision is None:  # unlimited: there is no bucket to describe
        return await handler(request)
    if decision.allowed:
        response = await handler(request)
    else:
        response = too_many_requests(request, decision.reset_seconds)
    response.headers["inin-ratelimit-allowed"] = str(decision.limit)
    response.headers["inin-ratelimit-count"] = str(decision.count)
    response.headers["inin-ratelimit-reset"] = str(decision.reset_seconds)
    return response


@web.middleware
async def _inject_faults(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Apply the armed switches: a delay first, then at most one outcome fault."""
    sim = request.app[SIMULATOR]
    delay = sim.faults.take_delay(request.path)
    if delay > 0:
        await asyncio.sleep(delay)
    fault = sim.faults.take_outcome(request.path)
    if fault is None:
        return await handler(request)
    return await _apply(request, handler, fault)


async def _apply(request: web.Request, handler: _Handler, fault: Fault) -> web.StreamResponse:
    if fault.kind == "fail":
        return error_response(request, fault.status, retry_after=fault.retry_after)
    if fault.kind == "throttle":
        return too_many_requests(request, fault.retry_after)
    if fault.kind == "reset":
        request[_DROPPED] = True
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=204)  # never reaches the client: the socket is gone
    if fault.kind in _CANNED:
        return _CANNED[fault.kind]()
    return await _spoil(request, await handler(request), fault)


_CANNED: dict[str, Callable[[], web.Response]] = {
    "malformed": lambda: web.Response(status=200, text=_HTML_ERROR_PAGE, content_type="text/html"),
    "not_json": lambda: web.Response(
        status=200, text="upstream request timeout\n", content_type="application/json"
    ),
    "empty": lambda: json_response({}),
    "error_body": lambda: json_response(_GATEWAY_ERROR),
}


async def _spoil(
    request: web.Request, response: web.StreamResponse, fault: Fault
) -> web.StreamResponse:
    """The real answer made bad: cut short, cut off, or with items that are not objects."""
    body = response.body if isinstance(response, web.Response) else None
    if not isinstance(body, bytes) or response.status != 200:
        return response
    if fault.kind == "truncate":  # Content-Length matches the cut body
        cut = web.Response(status=response.status, body=body[: len(body) // 2])
        cut.content_type = response.content_type
        return cut
    if fault.kind == "not_objects":
        parsed = orjson.loads(body)
        if isinstance(parsed, dict):
            for key, value in parsed.items():
                if isinstance(value, list):
                    parsed[key] = [orjson.dumps(item).decode() for item in value]
        return json_response(parsed)
    # cut: the whole body's Content-Length, half of it sent, then the connection is closed.
    stream = web.StreamResponse(status=200)
    stream.content_type = response.content_type
    stream.content_length = len(body)
    await stream.prepare(request)
    await stream.write(body[: len(body) // 2])
    request[_DROPPED] = True
    if request.transport is not None:
        request.transport.abort()
    return stream
