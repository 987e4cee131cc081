"""Fixtures for the CXone tests: a served simulator and one domain's real request path to it.

``nice_sim`` serves a simulated tenant (two sockets: area host and API host) whose data
extraction interval is short, so the tenant rule is exercised in tenths of a second.
``connect`` opens a session and builds a domain's clients exactly as production will:
``open_nice_clients`` (access-key grant through ``TokenManager``, tenant discovery), the
domain's own limiter and the tenant gates given. Retries are fast (tests assert behaviour,
never durations).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from producer.api.client import open_session
from producer.api.http import DomainHttp
from producer.api.retry import RetryPolicy
from producer.clock import SystemClock
from producer.platforms.nice.auth import NiceClients, open_nice_clients
from producer.platforms.nice.gates import TenantGates
from producer.platforms.nice.simulator import (
    NiceSimulatorConfig,
    RunningNiceSimulator,
    serve,
)
from producer.ratelimit import DomainLimiter
from producer.telemetry.metrics import Metrics

KEY, SECRET = "tel-key", "tel-secret-0123456789"
OTHER_KEY, OTHER_SECRET = "qa-key", "qa-secret-9876543210"
INTERVAL = 0.2  # the simulated tenant's Data Extraction interval (30 s on the platform)

Connect = Callable[..., AbstractAsyncContextManager[NiceClients]]


def fast_retry(budget_s: float = 2.0) -> RetryPolicy:
    return RetryPolicy(base_s=0.01, cap_s=0.05, budget_s=budget_s, throttle_default_s=0.05)


def sim_config(**overrides: object) -> NiceSimulatorConfig:
    settings: dict[str, object] = {
        "access_keys": {KEY: SECRET, OTHER_KEY: OTHER_SECRET},
        "extraction_interval_seconds": INTERVAL,
        "job_running_seconds": 0.1,
    }
    settings.update(overrides)
    return NiceSimulatorConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture
async def nice_sim() -> AsyncIterator[RunningNiceSimulator]:
    async with serve(sim_config()) as running:
        yield running


def make_gates(registry: CollectorRegistry | None = None) -> TenantGates:
    metrics = Metrics(registry or CollectorRegistry()).for_domain("cxone-extraction")
    return TenantGates(clock=SystemClock(), metrics=metrics, min_interval_s=INTERVAL, margin_s=0.15)


def connector(
    running: RunningNiceSimulator,
    *,
    gates: TenantGates | None = None,
    registry: CollectorRegistry | None = None,
) -> Connect:
    """``connect(domain=..., key=..., secret=..., secret_file=..., retry=...)``."""
    shared = gates if gates is not None else make_gates()
    root = Metrics(registry if registry is not None else CollectorRegistry())

    @asynccontextmanager
    async def connect(
        *,
        domain: str = "telephony",
        key: str = KEY,
        secret: str | None = SECRET,
        secret_file: Path | None = None,
        retry: RetryPolicy | None = None,
        api_version: str = "v30.0",
    ) -> AsyncIterator[NiceClients]:
        clock = SystemClock()
        metrics = root.for_domain(domain)
        async with open_session() as session:
            yield await open_nice_clients(
                DomainHttp(domain, session, metrics, clock, retry or fast_retry()),
                auth_url=running.auth_url,
                discovery_url=running.auth_url,
                api_version=api_version,
                access_key_id=key,
                secret=SecretStr(secret) if secret is not None else None,
                secret_file=secret_file,
                limiter=DomainLimiter(
                    per_minute=6000, priority="high", clock=clock, metrics=metrics
                ),
                gates=shared,
            )

    return connect


@pytest.fixture
def connect(nice_sim: RunningNiceSimulator) -> Connect:
    return connector(nice_sim)
