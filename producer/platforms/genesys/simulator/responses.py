"""Simulator HTTP replies: JSON bodies and the platform's standard error body (reference §3.3).

Every route module answers through these helpers so that errors look alike everywhere:
``{message, code, status, contextId, details[], errors[]}`` with ``contextId`` equal to the
``ININ-Correlation-Id`` response header, and 429s shaped as in §4.2. Also the typed app/request
keys that middlewares and routes share. No routing, no state of its own.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
from aiohttp import web

from producer.platforms.genesys.simulator.state import Simulator

__all__ = [
    "BEARER_TOKEN",
    "CLIENT_ID",
    "CORRELATION_ID",
    "SIMULATOR",
    "TOKEN_FINGERPRINT",
    "BadRequest",
    "error_response",
    "format_retry_after",
    "json_object",
    "json_response",
    "too_many_requests",
]

SIMULATOR = web.AppKey("simulator", Simulator)
CORRELATION_ID = web.RequestKey("correlation_id", str)
CLIENT_ID = web.RequestKey("client_id", str)  # the OAuth client behind the request
BEARER_TOKEN = web.RequestKey("bearer_token", str)  # only for revoking it; never logged
TOKEN_FINGERPRINT = web.RequestKey("token_fingerprint", str)

_DEFAULTS: dict[int, tuple[str, str]] = {
    400: (
        "bad.request",
        "The request could not be understood by the server due to malformed syntax.",
    ),
    401: ("bad.credentials", "Invalid login credentials."),
    403: ("not.authorized", "You are not authorized to perform the requested action."),
    404: ("not.found", "The requested resource was not found."),
    405: ("method.not.allowed", "The requested method is not allowed for this resource."),
    408: ("request.timeout", "The request timed out."),
    409: ("conflict", "The request conflicts with the current state of the resource."),
    413: ("request.entity.too.large", "The request is too large."),
    415: ("unsupported.media.type", "Unsupported media type."),
    429: ("too.many.requests.retry.after", "Rate limit exceeded the maximum."),
    500: ("internal.server.error", "The server encountered an unexpected condition."),
    502: ("bad.gateway", "The server received an invalid response from an upstream server."),
    503: ("service.unavailable", "Service Unavailable - The server is currently unavailable."),
    504: ("request.timeout", "The request timed out at the gateway."),
}


class BadRequest(Exception):
    """A request a route refuses: the ``code``, ``message`` and ``status`` of its error body."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's body as a JSON object; ``BadRequest`` (415 or 400) as the platform answers."""
    if request.content_type != "application/json":
        raise BadRequest("unsupported.media.type", "Content-Type must be application/json", 415)
    try:
        body = await request.json()
    except ValueError:
        raise BadRequest("bad.request", "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("bad.request", "The request body must be a JSON object")
    return body


def json_response(body: Any, status: int = 200) -> web.Response:
    """A compact JSON response (orjson: a results page of 1,000 records is ~4 MB)."""
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", charset="utf-8"
    )


def format_retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds as an integer, a fraction kept as a decimal.

    The platform sends integers; fractions exist only so tests can ask for short waits.
    """
    if float(seconds).is_integer():
        return str(int(seconds))
    return f"{seconds:.3f}".rstrip("0")


def error_response(
    request: web.Request,
    status: int,
    code: str | None = None,
    message: str | None = None,
    *,
    retry_after: float | None = None,
) -> web.Response:
    """The standard error body for ``status`` (default code and message per status)."""
    default_code, default_message = _DEFAULTS.get(status, ("error", "An error occurred."))
    context_id = request.get(CORRELATION_ID, "")
    body = {
        "message": message or default_message,
        "code": code or default_code,
        "status": status,
        "contextId": context_id,
        "details": [],
        "errors": [],
    }
    response = json_response(body, status=status)
    if retry_after is not None:
        response.headers["Retry-After"] = format_retry_after(retry_after)
    return response


def too_many_requests(request: web.Request, retry_after: float | None) -> web.Response:
    """A 429 as normalized in Nov 2021: the wait is in ``Retry-After`` and in the message."""
    if retry_after is None:
        message = "Rate limit exceeded the maximum. Retry the request later"
    else:
        message = (
            "Rate limit exceeded the maximum. "
            f"Retry the request in [{max(1, math.ceil(retry_after))}] seconds"
        )
    return error_response(
        request, 429, "too.many.requests.retry.after", message, retry_after=retry_after
    )
