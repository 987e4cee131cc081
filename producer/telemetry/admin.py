"""Side channel: the runtime quota endpoint on the daemon's HTTP port (off unless configured).

``GET /admin/quotas`` lists every running domain's configured and effective quota and priority;
``PUT /admin/quotas/{domain}`` with ``{"per_minute": 120, "priority": "low"}`` (either key) changes
them at once. Routes exist only when ``MESH_ADMIN_TOKEN`` is set, and every request must carry it
as ``Authorization: Bearer ...`` (compared in constant time). Never echoes the token.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web

__all__ = ["QuotaControl", "add_admin_routes"]

_PRIORITIES = ("high", "normal", "low")


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
        given = request.headers.get("Authorization", "").encode()
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
        return 'expected {"per_minute": number > 0} and/or {"priority": "high|normal|low"}'
    per_minute = body.get("per_minute")
    if per_minute is not None and (
        isinstance(per_minute, bool)
        or not isinstance(per_minute, int | float)
        or not 0 < per_minute <= 100_000
    ):
        return "per_minute must be a number in (0, 100000]"
    priority = body.get("priority")
    if priority is not None and priority not in _PRIORITIES:
        return "priority must be one of high, normal, low"
    return None
