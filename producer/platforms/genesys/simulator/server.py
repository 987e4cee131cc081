"""Simulator server: serve the app on a real socket, for tests, ``simulate`` and ``demo``.

``serve()`` binds (port 0 picks a free port), yields the base URL and the ``Simulator`` whose
switches and observations the caller uses, and stops the server on exit. ``serve_forever()``
runs until its ``stopping`` event is set. Owns the aiohttp runner lifecycle; no routes here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog
from aiohttp import web

from producer.platforms.genesys.simulator.app import create_app
from producer.platforms.genesys.simulator.state import Simulator, SimulatorConfig

__all__ = ["RunningSimulator", "serve", "serve_forever"]

_SHUTDOWN_TIMEOUT_SECONDS = 2.0
_log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RunningSimulator:
    """A served simulator: ``base_url`` serves both ``/oauth/token`` and ``/api/v2``."""

    base_url: str
    sim: Simulator


def _url_host(host: str, bound: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{bound}]" if ":" in bound else bound


@asynccontextmanager
async def serve(
    config: SimulatorConfig, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningSimulator]:
    """Serve a new simulator on ``host:port`` for the duration of the ``async with``.

    On exit the listening socket closes, requests still in flight get a short grace period and
    are then cancelled, so no task outlives the block.
    """
    sim = Simulator(config)
    runner = web.AppRunner(
        create_app(sim),
        handler_cancellation=True,
        access_log=None,
        shutdown_timeout=_SHUTDOWN_TIMEOUT_SECONDS,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        yield RunningSimulator(f"http://{_url_host(host, str(bound_host))}:{bound_port}", sim)
    finally:
        await runner.cleanup()


async def serve_forever(
    config: SimulatorConfig, host: str, port: int, stopping: asyncio.Event
) -> None:
    """Serve until ``stopping`` is set (``mesh-producer simulate``); logs the base URL once."""
    async with serve(config, host, port) as running:
        _log.info("simulator_listening", base_url=running.base_url)
        await stopping.wait()
        _log.info("simulator_stopping", base_url=running.base_url)
