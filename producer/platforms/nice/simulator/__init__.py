"""A NICE CXone simulator: aiohttp hosts behaving like the reference sheet, not like our client.

``state`` holds config, switches and observations; ``app`` the area host (access-key token,
discovery, Data Extraction, result files) and the API host (versioned Reporting base);
``data`` the deterministic contacts and QM rows (some built to be rejected); ``server`` the two
sockets. Used by ``tests/nice`` and ``mesh-producer simulate|demo --platform nice``.
"""

from __future__ import annotations

from producer.platforms.nice.simulator.server import RunningNiceSimulator, serve, serve_forever
from producer.platforms.nice.simulator.state import (
    ExtractionCall,
    NiceSimulator,
    NiceSimulatorConfig,
    RequestRecord,
)

__all__ = [
    "ExtractionCall",
    "NiceSimulator",
    "NiceSimulatorConfig",
    "RequestRecord",
    "RunningNiceSimulator",
    "serve",
    "serve_forever",
]
