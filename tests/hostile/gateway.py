"""A misbehaving gateway in front of the simulator: forwards every request, except those a rule
answers itself (a 200 that is not the platform's answer, for instance).

For the domains whose hostile cases need the simulator's data (Quality search, WFM schedules):
``serve_gateway(upstream, rule)`` serves on 127.0.0.1, a free port; ``rule(request)`` returns
the ``Answer`` to send instead of forwarding, or None. Absolute URLs of the upstream in an
answer (a WFM ``downloadUrl``) are rewritten to the gateway, so downloads pass through it too.
Bounded: at most ``MAX_REQUESTS`` requests, each forwarded with a 10 s timeout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp import web

__all__ = ["Answer", "Gateway", "Seen", "serve_gateway"]

MAX_REQUESTS = 2000
_FORWARDED = ("Authorization", "Content-Type", "Accept")


@dataclass(frozen=True, slots=True)
class Seen:
    """A request as the gateway saw it: method, path, parsed JSON body (None if none)."""

    method: str
    path: str
    json: Any


@dataclass(frozen=True, slots=True)
class Answer:
    """What the gateway sends instead of the upstream's answer."""

    status: int
    body: bytes
    content_type: str = "application/json"


Rule = Callable[[Seen], Answer | None]


@dataclass
class Gateway:
    """A served gateway: its base URL and how many answers the rule gave."""

    base_url: str
    answered: int = 0
    requests: int = 0


@asynccontextmanager
async def serve_gateway(upstream: str, rule: Rule) -> AsyncIterator[Gateway]:
    """Serve a gateway to ``upstream`` (a base URL) that lets ``rule`` answer first."""
    gateway = Gateway("")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:

        async def handle(request: web.Request) -> web.Response:
            gateway.requests += 1
            if gateway.requests > MAX_REQUESTS:
                return web.Response(status=503, text="request bound of the test gateway")
            raw = await request.read()
            try:
                parsed = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                parsed = None
            answer = rule(Seen(request.method, request.path, parsed))
            if answer is not None:
                gateway.answered += 1
                return web.Response(
                    status=answer.status, body=answer.body, content_type=answer.content_type
                )
            headers = {k: v for k, v in request.headers.items() if k in _FORWARDED}
            async with http.request(
                request.method,
                upstream + request.path_qs,
                data=raw or None,
                headers=headers,
            ) as response:
                body = (await response.read()).replace(upstream.encode(), gateway.base_url.encode())
                return web.Response(
                    status=response.status,
                    body=body,
                    headers={
                        k: v
                        for k, v in response.headers.items()
                        if k.lower() in ("content-type", "retry-after")
                    },
                )

        app = web.Application(client_max_size=16 * 1024**2)
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            gateway.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
            yield gateway
        finally:
            await runner.cleanup()
