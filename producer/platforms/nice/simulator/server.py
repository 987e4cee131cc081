"""CXone simulator server: the area host and the API host on two real sockets.

``serve()`` binds both (port 0 picks free ports), tells the simulator its own URLs (discovery
names the API host, result URLs the area host), yields a ``RunningNiceSimulator`` and stops
both on exit. ``serve_forever()`` runs until its ``stopping`` event is set
(``mesh-producer simulate --platform nice``). Owns the runner lifecycle; no routes here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import structlog
from aiohttp import web

from producer.platforms.nice.simulator.app import create_api_app, create_area_app
from producer.platforms.nice.simulator.state import NiceSimulator, NiceSimulatorConfig

__all__ = ["RunningNiceSimulator", "serve", "serve_forever"]

_SHUTDOWN_TIMEOUT_SECONDS = 2.0
_log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RunningNiceSimulator:
    """A served CXone tenant: ``auth_url`` (token, discovery, Data Extraction; also the
    discovery host) and ``api_url`` (the Reporting API, found only through discovery)."""

    auth_url: str
    api_url: str
    sim: NiceSimulator


def _url_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else host


@asynccontextmanager
async def _site(app: web.Application, host: str, port: int) -> AsyncIterator[str]:
    runner = web.AppRunner(
        app, handler_cancellation=True, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_SECONDS
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        bound_port = runner.addresses[0][1]
        yield f"http://{_url_host(host)}:{bound_port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def serve(
    config: NiceSimulatorConfig, host: str = "127.0.0.1", port: int = 0, api_port: int = 0
) -> AsyncIterator[RunningNiceSimulator]:
    """Serve a new simulated tenant for the duration of the ``async with``."""
    sim = NiceSimulator(config)
    async with AsyncExitStack() as stack:
        sim.auth_url = await stack.enter_async_context(_site(create_area_app(sim), host, port))
        sim.api_url = await stack.enter_async_context(_site(create_api_app(sim), host, api_port))
        yield RunningNiceSimulator(sim.auth_url, sim.api_url, sim)


async def serve_forever(
    config: NiceSimulatorConfig,
    host: str,
    port: int,
    stopping: asyncio.Event,
    api_port: int = 0,
) -> None:
    """Serve until ``stopping`` is set; logs both URLs once."""
    async with serve(config, host, port, api_port) as running:
        _log.info("simulator_listening", auth_url=running.auth_url, api_url=running.api_url)
        await stopping.wait()
        _log.info("simulator_stopping", auth_url=running.auth_url)
