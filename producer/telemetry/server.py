"""Side channel: the HTTP port of the daemon — ``/metrics``, ``/healthz``, ``/readyz``.

``/metrics`` exposes the injected Prometheus registry; ``/healthz`` answers 200 while the event
loop and the supervisors are alive; ``/readyz`` answers 200 when every enabled domain is ready,
else 503 with a JSON body naming each domain that is not and why; ``/admin/quotas`` only when an
admin token is configured (``telemetry/admin.py``). Serves until the context closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from producer.telemetry.admin import QuotaControl, add_admin_routes
from producer.telemetry.health import Health

__all__ = ["serve_http"]


def _app(
    registry: CollectorRegistry,
    health: Health,
    before_scrape: Callable[[], None] | None,
    admin: tuple[str, Mapping[str, QuotaControl]] | None,
) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        if before_scrape is not None:
            before_scrape()
        body = await asyncio.to_thread(generate_latest, registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        if health.alive:
            return web.json_response({"status": "ok"})
        return web.json_response({"status": "stopping"}, status=503)

    async def readyz(_: web.Request) -> web.Response:
        not_ready = health.not_ready()
        if not not_ready:
            return web.json_response({"status": "ready", "domains": sorted(health.domains)})
        return web.json_response({"status": "not ready", "not_ready": not_ready}, status=503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if admin is not None:
        add_admin_routes(app, *admin)
    return app


@asynccontextmanager
async def serve_http(
    registry: CollectorRegistry,
    health: Health,
    *,
    host: str,
    port: int,
    before_scrape: Callable[[], None] | None = None,
    admin: tuple[str, Mapping[str, QuotaControl]] | None = None,
) -> AsyncIterator[int]:
    """Serve the endpoints while the context is open; yields the bound port (port 0 = any).

    ``before_scrape`` refreshes gauges computed from state (readiness) just before ``/metrics``.
    ``admin`` = (bearer token, limiters by domain) adds the runtime quota endpoint.
    """
    runner = web.AppRunner(_app(registry, health, before_scrape, admin), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        bound = sockets[0].getsockname()[1] if sockets else port
        yield int(bound)
    finally:
        await runner.cleanup()
