"""Side channel: the runtime quota endpoint on the daemon's HTTP port (off unless configured).

``GET /admin/quotas`` lists every running domain's configured and effective quota and priority;
``PUT /admin/quotas/{domain}`` with ``{"per_minute": 120, "priority": "low"}`` (either key) changes
them at once. ``per_minute`` runs from 1 to 100 000 requests a minute, like
``MESH_{DOMAIN}__RATE_LIMIT_PER_MINUTE``; anything else (less than one, NaN, an infinity, not a
number) is a 400 naming the field. Routes exist only when ``MESH_ADMIN_TOKEN`` is set, and every
request must carry it as ``Authorization: Bearer ...`` (compared in constant time; a header that
is not UTF-8 is a mismatch like any other, 401). Never echoes the token.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web

__all__ = ["MAX_PER_MINUTE", "MIN_PER_MINUTE", "QuotaControl", "add_admin_routes"]

_PRIORITIES = ("high", "normal", "low")
MIN_PER_MINUTE = 1
"""The smallest quota: below one request a minute a domain's next window would never start."""
MAX_PER_MINUTE = 100_000


class QuotaControl(Protocol):
    """What the endpoint needs of a domain's limiter."""

    priority: str

    @property
    def per_minute(self) -> float: ...

    @property
    def effective_per_minute(self) -> float: ...

    def set_quota(self, per_minute: float | None = None, priority: str | None = None) -> None: ...


def add_admin_routes(
    app: web.Application, token: str, limiters: Mapping[str, QuotaControl]
) -> None:
    """Register the quota routes on ``app``, guarded by the bearer ``token``."""
    expected = f"Bearer {token}".encode()

    def authorised(request: web.Request) -> bool:
        # aiohttp decodes header bytes that are not UTF-8 as lone surrogates; re-encoding them
        # the same way gives back the bytes sent, which simply do not match.
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, expected)

    def refuse() -> web.Response:
        return web.json_response(
            {"error": "unauthorized"}, status=401, headers={"WWW-Authenticate": "Bearer"}
        )

    def describe(limiter: QuotaControl) -> dict[str, Any]:
        return {
            "per_minute": limiter.per_minute,
            "effective_per_minute": round(limiter.effective_per_minute, 3),
            "priority": limiter.priority,
        }

    async def list_quotas(request: web.Request) -> web.Response:
        if not authorised(request):
            return refuse()
        return web.json_response({name: describe(lim) for name, lim in sorted(limiters.items())})

    async def set_quota(request: web.Request) -> web.Response:
        if not authorised(request):
            return refuse()
        domain = request.match_info["domain"]
        limiter = limiters.get(domain)
        if limiter is None:
            return web.json_response({"error": f"no running domain {domain!r}"}, status=404)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "body must be JSON"}, status=400)
        problem = _check(body)
        if problem is not None:
            return web.json_response({"error": problem}, status=400)
        limiter.set_quota(per_minute=body.get("per_minute"), priority=body.get("priority"))
        return web.json_response({domain: describe(limiter)})

    app.router.add_get("/admin/quotas", list_quotas)
    app.router.add_put("/admin/quotas/{domain}", set_quota)


def _check(body: Any) -> str | None:
    """Why ``body`` is not a valid change, or None."""
    if not isinstance(body, dict) or not body or set(body) - {"per_minute", "priority"}:
        return (
            f'expected {{"per_minute": number >= {MIN_PER_MINUTE}}} and/or '
            '{"priority": "high|normal|low"}'
        )
    if "per_minute" in body:
        per_minute = body["per_minute"]
        if (
            isinstance(per_minute, bool)
            or not isinstance(per_minute, int | float)
            or not MIN_PER_MINUTE <= per_minute <= MAX_PER_MINUTE  # False for NaN too
        ):
            return (
                f"per_minute must be a number from {MIN_PER_MINUTE} to {MAX_PER_MINUTE} "
                f"(requests a minute), got {json.dumps(per_minute)}"
            )
    if "priority" in body and body["priority"] not in _PRIORITIES:
        return "priority must be one of high, normal, low"
    return None
