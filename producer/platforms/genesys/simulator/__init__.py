"""The Genesys Cloud simulator: an aiohttp server behaving like the platform, not like our client.

Used by the tests (served on 127.0.0.1, port 0), ``mesh-producer simulate`` and ``demo``.
``state`` holds config, switches and observations; ``app`` the middlewares; ``oauth`` and
``analytics`` the routes (quality and WFM come as more route modules); ``data``,
``conversations``, ``legs`` and ``timeline`` the deterministic records; ``server`` the socket.
"""

from __future__ import annotations

from producer.platforms.genesys.simulator.app import create_app
from producer.platforms.genesys.simulator.server import RunningSimulator, serve, serve_forever
from producer.platforms.genesys.simulator.state import (
    RequestRecord,
    Simulator,
    SimulatorConfig,
    token_fingerprint,
)

__all__ = [
    "RequestRecord",
    "RunningSimulator",
    "Simulator",
    "SimulatorConfig",
    "create_app",
    "serve",
    "serve_forever",
    "token_fingerprint",
]
